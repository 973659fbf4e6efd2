"""Compiled CPU kernels (built on first use, each with a pure-PyTorch fallback)."""
from .ms_deform_attn import load_cpu_extension, ms_deform_attn_cpu

__all__ = ['load_cpu_extension', 'ms_deform_attn_cpu']
