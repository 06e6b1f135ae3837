"""Pure data of the OCI and Docker image formats: no I/O, no engine state.

Submodules (import the one you need; this package imports none of them, to keep start-up
cheap):

- ``minke.oci.digest``      validate and compute content digests (``sha256:<hex>``)
- ``minke.oci.reference``   image references, normalised exactly like Docker's
- ``minke.oci.mediatypes``  OCI and Docker schema 2 media types and helpers
- ``minke.oci.descriptor``  ``Descriptor``: media type, digest, size of a blob
- ``minke.oci.platform``    ``Platform``: os/architecture/variant, host detection, matching
- ``minke.oci.image``       ``Manifest``, ``Index``, ``ImageConfig`` and their JSON forms
"""
