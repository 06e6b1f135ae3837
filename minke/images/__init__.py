"""Images: the image service (list, tag, remove, inspect, history, save, load, import),
unpacking layers into snapshots, and the built-in hello-whale image.

The engine builds one :class:`minke.images.service.ImageService`; everything else here is
its implementation, split by concern.
"""
