"""The desktop GUI: a thin PyQt5 shell over pipeline; capture, pose and inference in workers."""
