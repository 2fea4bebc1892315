"""Bytes and files -> arrays, one module per format, all in memory.

* :mod:`core.io.image`: PNG, JPEG, TIFF, BMP, WebP (Pillow) and the 2-D entry point ``load_image``;
* :mod:`core.io.dicom`: one DICOM frame; :mod:`core.io.dicom_series`: a series into a volume;
* :mod:`core.io.nifti`: NIfTI reading and writing;
* :mod:`core.io.volume`: the :class:`~core.io.volume_types.Volume` and ``load_volume``, which picks
  NIfTI, DICOM or a 2-D image by content;
* :mod:`core.io.image_types`, :mod:`core.io.volume_types`: what those share (data classes, errors,
  limits), below all of them so that no two readers import each other.

Nothing is imported here: each reader pulls in its own library (Pillow, pydicom, nibabel).
"""
