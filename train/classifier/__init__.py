"""Train a face screening ensemble (whole-face CNN + region CNNs, mean of softmaxes): ``python -m
train.classifier --help``.

* :mod:`.config`: the run's configuration (filled by argparse, recorded in the card);
* :mod:`.data`: faces from photo folders, CSV lists or phantoms, aligned and cut once;
* :mod:`.splits`: stratified k-fold or one stratified split;
* :mod:`.augment`: on-the-fly batch jitter;
* :mod:`.model`: the card and a fresh network of a configuration;
* :mod:`.fit`: training and cross-validation;
* :mod:`.run`: the whole run and ``main``.
"""
from __future__ import annotations

from train.classifier.augment import augment
from train.classifier.config import ClassifierConfig, parse_args
from train.classifier.data import FaceSet, csv_items, folder_items, phantom_faces
from train.classifier.fit import class_weights
from train.classifier.model import load_pretrained, new_model, screening_card
from train.classifier.run import main, train
from train.classifier.splits import stratified_folds, stratified_split, validation_plan

__all__ = ["ClassifierConfig", "FaceSet", "augment", "class_weights", "csv_items", "folder_items",
           "load_pretrained", "main", "new_model", "parse_args", "phantom_faces", "screening_card",
           "stratified_folds", "stratified_split", "train", "validation_plan"]
