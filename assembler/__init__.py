"""The image assembler: recipe → reproducible Debian UKI, disk images and measurements."""

__version__ = "0.1.0"
