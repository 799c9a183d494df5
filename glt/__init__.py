"""glt: GL-Transformer (Kim et al., ECCV 2022) as a tested package and a tutorial you can run."""

__version__ = "0.1.0"
