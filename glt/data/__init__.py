"""Skeleton data: reading recordings, preprocessing, the on-disk format and training batches."""

from glt.data.store import PreparedDataset, SkeletonPart, open_dataset, write_dataset

__all__ = ["PreparedDataset", "SkeletonPart", "open_dataset", "write_dataset"]
