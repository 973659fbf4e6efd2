"""BCCD blood-cell detection dataset (VOC layout, 3 classes)."""
import os.path as osp
import xml.etree.ElementTree as ET
from typing import List, Union

from mmdet.datasets import XMLDataset
from mmdet.registry import DATASETS

from .checks import require_dir, require_file


@DATASETS.register_module()
class BCCDDataset(XMLDataset):
    """BCCD (github Shenggan/BCCD_Dataset, MIT) in VOC layout: ``BCCD/{Annotations,JPEGImages,ImageSets/Main}``.

    Classes ``RBC``, ``WBC``, ``Platelets``. Evaluate it with ``VOCMetric`` (``eval_mode='area'``).

    Args:
        unknown_class (str): what to do with an object whose ``<name>`` is not in ``classes``: ``'error'``
            (default, names the XML file and the class) or ``'ignore'`` (mmdet's behaviour: drop the object).
        **kwargs: as for :class:`mmdet.datasets.XMLDataset`.
    """

    METAINFO = {
        'classes': ('RBC', 'WBC', 'Platelets'),
        'palette': [(220, 20, 60), (106, 0, 228), (0, 182, 199)],
    }

    def __init__(self, *args, unknown_class: str = 'error', **kwargs) -> None:
        if unknown_class not in ('error', 'ignore'):
            raise ValueError(f"unknown_class must be 'error' or 'ignore', got {unknown_class!r}")
        self.unknown_class = unknown_class
        super().__init__(*args, **kwargs)
        # VOCMetric reads this: None selects the eval_mode given to the metric.
        self._metainfo.setdefault('dataset_type', None)

    def load_data_list(self) -> List[dict]:
        if self.data_root:
            require_dir(self.data_root, 'data root')
        require_file(self.ann_file, 'image-set file')
        require_dir(osp.join(self.sub_data_root, self.ann_subdir), 'annotation folder')
        data_list = super().load_data_list()
        if not data_list:
            raise ValueError(f'image-set file lists no image: {self.ann_file!r}')
        return data_list

    def parse_data_info(self, img_info: dict) -> Union[dict, List[dict]]:
        xml_path = img_info['xml_path']
        require_file(xml_path, 'annotation XML')
        if self.unknown_class == 'error':
            try:
                names = [obj.findtext('name') for obj in ET.parse(xml_path).getroot().findall('object')]
            except ET.ParseError as err:
                raise ValueError(f'annotation XML is malformed: {xml_path!r} ({err})') from err
            unknown = sorted({n for n in names if n not in self._metainfo['classes']})
            if unknown:
                raise ValueError(f'{xml_path!r}: unknown class name(s) {unknown}; known: '
                                 f'{list(self._metainfo["classes"])} (unknown_class="ignore" drops them)')
        return super().parse_data_info(img_info)
