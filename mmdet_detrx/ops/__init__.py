"""Compiled CPU kernels (built on first use, each with a pure-PyTorch fallback)."""
from ._extension import load_cpu_extension
from .ms_deform_attn import deformable_attn_level_sum, ms_deform_attn_cpu

__all__ = ['deformable_attn_level_sum', 'load_cpu_extension', 'ms_deform_attn_cpu']
