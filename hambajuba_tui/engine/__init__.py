"""Engines that turn FrameParams into pixels, the worker process, the shared-memory frame ring."""
