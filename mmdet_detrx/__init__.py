"""mmdet_detrx: DETR-family methods for MMDetection 3.x as registry components.

Importing the package registers every module into mmdet's own registries (``MODELS``, ``TASK_UTILS``,
``TRANSFORMS``, ``HOOKS``, ``DATASETS``, ``METRICS``), so configs with ``default_scope='mmdet'`` and
``custom_imports=dict(imports=['mmdet_detrx'])`` find them. It changes no mmengine global except one added
checkpoint scheme (``efficientnet-lite://``); the safe checkpoint loader is opt-in (:mod:`.checkpoint_loading`).
"""
from .version import __version__
from .utils import pretrained  # noqa: F401  (registers the efficientnet-lite:// checkpoint scheme)
from . import datasets, engine, models  # noqa: F401,E402
from . import evaluation  # noqa: F401,E402

__all__ = ['__version__']
