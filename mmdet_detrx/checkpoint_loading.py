"""Importing this module makes mmengine load local checkpoints with
:func:`mmdet_detrx.utils.checkpoint_compat.safe_torch_load`: weights-only unpickling plus exactly what mmengine's
own checkpoints hold, so ``--resume`` and ``load_from`` work under torch >= 2.6 and no checkpoint runs code.

Our configs ask for it: ``custom_imports=dict(imports=['mmdet_detrx', 'mmdet_detrx.checkpoint_loading'])``.
Drop the second entry to keep mmengine's loader (then torch >= 2.6 refuses mmengine's checkpoints on resume).
"""
from .utils.checkpoint_compat import install_checkpoint_loader

install_checkpoint_loader()
