"""The desktop GUI: a thin PyQt5 shell over app.pipeline; capture, pose and inference in workers."""
