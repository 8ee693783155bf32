"""Generic helpers every package uses: user-facing errors, atomic files, YAML, devices, progress,
size limits and downloads. Imports nothing from the project's other packages."""
