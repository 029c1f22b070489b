"""Disk images for a UKI: GPT, FAT32 ESP, raw / GCP tar.gz / Azure VHD outputs, all reproducible.

Modules: ``gpt.gpt`` (partition table and the UEFI_GPT_DATA event payload), ``gpt.fat`` (FAT file
systems), ``gpt.vhd`` (fixed VHD footer), ``gpt.tar`` (GNU sparse tar.gz), ``gpt.sparse`` (sparse image
values and writers), ``gpt.disk`` (the three disk layouts and their writers). Imports nothing else of
the project.
"""
