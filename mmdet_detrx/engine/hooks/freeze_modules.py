"""A hook that freezes sub-modules of the model (e.g. the CNN backbone during UP-DETR pre-training)."""
from typing import Dict, List, Optional, Sequence, Tuple

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.parallel import DistributedDataParallel

from mmdet.registry import HOOKS


@HOOKS.register_module()
class FreezeModulesHook(Hook):
    """Freezes the model's sub-modules named by prefix, keeps their normalization layers in eval mode, and
    optionally unfreezes them at an epoch.

    Freezing sets ``requires_grad=False`` on every parameter of the modules (so they get no gradient and the
    optimizer leaves them alone); their ``_BatchNorm`` layers (BN, SyncBN) are put in eval mode before every
    training iteration (the train loop calls ``model.train()`` each epoch), so their running statistics stay
    fixed. What is frozen is logged. With ``unfreeze_epoch=e`` the parameters get their original
    ``requires_grad`` back at the start of epoch ``e`` (0-based, i.e. after ``e`` epochs) and the norm layers
    follow ``model.train()`` again; parameters frozen by the model itself (e.g. ``frozen_stages``,
    ``norm_cfg.requires_grad=False``) stay frozen.

    Under ``DistributedDataParallel`` the frozen parameters get no gradient, which DDP accepts only with
    ``find_unused_parameters=True`` (set ``find_unused_parameters = True`` in the config); the hook checks.

    Args:
        modules (Sequence[str]): module names relative to the model, e.g. ``('backbone', )`` or
            ``('backbone.layer1', 'neck')``.
        unfreeze_epoch (int, optional): epoch at which to unfreeze. Defaults to None (frozen for the whole run).
        norm_eval (bool): keep the normalization layers of the frozen modules in eval mode. Defaults to True.
    """

    priority = 'HIGH'

    def __init__(self, modules: Sequence[str] = ('backbone', ), unfreeze_epoch: Optional[int] = None,
                 norm_eval: bool = True) -> None:
        if isinstance(modules, str):
            modules = (modules, )
        if not modules:
            raise ValueError('FreezeModulesHook needs at least one module name')
        if unfreeze_epoch is not None and unfreeze_epoch < 0:
            raise ValueError(f'unfreeze_epoch must be >= 0, got {unfreeze_epoch}')
        self.modules = tuple(modules)
        self.unfreeze_epoch = unfreeze_epoch
        self.norm_eval = norm_eval
        self.frozen = False
        self._saved_requires_grad: Dict[str, bool] = {}
        self._norms: List[nn.Module] = []

    @staticmethod
    def _unwrap(model: nn.Module) -> nn.Module:
        return model.module if is_model_wrapper(model) else model

    def resolve(self, model: nn.Module) -> List[Tuple[str, nn.Module]]:
        """The ``(name, module)`` pairs named by ``modules``.

        Raises:
            KeyError: a name is not a sub-module of ``model``; the message lists its top-level children.
        """
        found = []
        for name in self.modules:
            try:
                found.append((name, model.get_submodule(name)))
            except AttributeError as err:
                children = [n for n, _ in model.named_children()]
                raise KeyError(f'FreezeModulesHook: the model ({type(model).__name__}) has no sub-module {name!r}; '
                               f'its top-level modules are {children}') from err
        return found

    def freeze(self, model: nn.Module, logger=None) -> None:
        """Freezes the modules of ``model`` (unwrapped) and records their original ``requires_grad``."""
        self._saved_requires_grad.clear()
        self._norms = []
        for name, module in self.resolve(model):
            num_params = num_trainable = 0
            for param_name, param in module.named_parameters():
                full = f'{name}.{param_name}'
                if full not in self._saved_requires_grad:
                    self._saved_requires_grad[full] = param.requires_grad
                    num_params += param.numel()
                    num_trainable += param.numel() if param.requires_grad else 0
                param.requires_grad_(False)
            norms = [m for m in module.modules() if isinstance(m, _BatchNorm)]
            self._norms.extend(norms)
            if logger is not None:
                norm_info = f', {len(norms)} BatchNorm layers kept in eval mode' if self.norm_eval else ''
                until = f' until epoch {self.unfreeze_epoch}' if self.unfreeze_epoch is not None else ''
                logger.info(f'FreezeModulesHook: froze {name!r} ({type(module).__name__}: {num_params:,} parameters, '
                            f'{num_trainable:,} of them trainable before{norm_info}){until}')
        self.frozen = True
        self.set_norm_eval()

    def unfreeze(self, model: nn.Module, logger=None) -> None:
        """Restores the ``requires_grad`` recorded by :meth:`freeze`."""
        params = dict(model.named_parameters())
        for full, requires_grad in self._saved_requires_grad.items():
            params[full].requires_grad_(requires_grad)
        self.frozen = False
        if logger is not None:
            restored = sum(params[k].numel() for k, v in self._saved_requires_grad.items() if v)
            logger.info(f'FreezeModulesHook: unfroze {list(self.modules)} ({restored:,} trainable parameters)')

    def set_norm_eval(self) -> None:
        """Puts the frozen modules' normalization layers in eval mode (if frozen and ``norm_eval``)."""
        if self.frozen and self.norm_eval:
            for norm in self._norms:
                norm.eval()

    def before_train(self, runner) -> None:
        if isinstance(runner.model, DistributedDataParallel) and not runner.model.find_unused_parameters:
            raise RuntimeError('FreezeModulesHook: frozen parameters get no gradient, which DistributedDataParallel '
                               'accepts only with find_unused_parameters=True; set `find_unused_parameters = True` '
                               'in the config (or model_wrapper_cfg=dict(..., find_unused_parameters=True))')
        model = self._unwrap(runner.model)
        if self.unfreeze_epoch is None or runner.epoch < self.unfreeze_epoch:
            self.freeze(model, runner.logger)

    def before_train_epoch(self, runner) -> None:
        if self.frozen and self.unfreeze_epoch is not None and runner.epoch >= self.unfreeze_epoch:
            self.unfreeze(self._unwrap(runner.model), runner.logger)

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        self.set_norm_eval()
