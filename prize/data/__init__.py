"""Data: importers, the dataset folder, the Netflix hold-out protocol, synthetic data."""

from prize.data.dataset import CINEMATCH, Dataset, Ratings, Split, open_dataset

__all__ = ["CINEMATCH", "Dataset", "Ratings", "Split", "open_dataset"]
