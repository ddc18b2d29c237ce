"""Song + performance → video (``hambajuba render``)."""
