"""The applications: the frames -> actions pipeline, video classification and the live GUI."""
