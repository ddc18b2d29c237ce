"""Engines that turn FrameParams into pixels, the worker process and the shared-memory frame ring."""
