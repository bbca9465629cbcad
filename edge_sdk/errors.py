"""Typed errors. Each also inherits the builtin a caller would naturally catch (ValueError, ImportError, ...)."""

from __future__ import annotations


class EdgeSDKError(Exception):
    """Base class of every error this SDK raises on purpose."""


class InvalidImageError(EdgeSDKError, ValueError):
    """The image given to ``detect`` cannot be used (type, dtype, shape, size or file)."""


class InvalidArgumentError(EdgeSDKError, ValueError):
    """A constructor or function argument is out of its documented range."""


class ModelLoadError(EdgeSDKError, RuntimeError):
    """A model file or its manifest is missing, corrupt, tampered with or inconsistent."""


class BackendUnavailableError(EdgeSDKError, ImportError):
    """The runtime package of a backend is not installed (the message says which extra to install)."""


class BackendError(EdgeSDKError, RuntimeError):
    """A backend failed while running a model that loaded fine."""


class SourceError(InvalidArgumentError):
    """A video file, camera or stream cannot be opened (or reopened)."""


class OutputError(EdgeSDKError, OSError):
    """A result (picture, JSON, video) cannot be written where it was asked to go."""
