"""Image loading that reports unreadable images by path."""
from typing import Optional

from mmcv.transforms import LoadImageFromFile
from mmengine.logging import MMLogger
from mmdet.registry import TRANSFORMS


@TRANSFORMS.register_module()
class DetrxLoadImageFromFile(LoadImageFromFile):
    """:class:`mmcv.transforms.LoadImageFromFile` with a clear policy for missing or corrupt images.

    Args:
        on_error (str): ``'raise'`` (default): raise ``OSError`` naming the image path and the reason.
            ``'skip'``: log a warning naming the path (once per path) and return ``None``, so that
            mmengine's dataset draws another sample; nothing is silently wrong.
        **kwargs: as for :class:`mmcv.transforms.LoadImageFromFile` (``ignore_empty`` is not accepted:
            use ``on_error``).
    """

    def __init__(self, on_error: str = 'raise', **kwargs) -> None:
        if on_error not in ('raise', 'skip'):
            raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        if kwargs.pop('ignore_empty', False):
            raise ValueError("DetrxLoadImageFromFile: use on_error='skip' instead of ignore_empty=True")
        super().__init__(ignore_empty=False, **kwargs)
        self.on_error = on_error
        self._reported = set()

    def transform(self, results: dict) -> Optional[dict]:
        path = results.get('img_path')
        try:
            out = super().transform(results)
        except FileNotFoundError as err:
            reason = f'missing file ({err.strerror or err})'
            return self._fail(path, reason, err)
        except AssertionError as err:  # mmcv asserts the decoder returned an image
            return self._fail(path, 'not a decodable image (corrupt or unsupported format)', err)
        except Exception as err:  # noqa: BLE001 - any decoder error is reported with the path
            return self._fail(path, f'{type(err).__name__}: {err}', err)
        return out

    def _fail(self, path: str, reason: str, err: Exception) -> None:
        if self.on_error == 'raise':
            raise OSError(f'cannot read image {path!r}: {reason}') from err
        if path not in self._reported:
            self._reported.add(path)
            MMLogger.get_current_instance().warning(f'skipping unreadable image {path!r}: {reason}')
        return None
