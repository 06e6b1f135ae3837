"""Distribution client: resolve, fetch, push, auth, mirrors (OCI distribution / Docker v2).

Imported only by the commands that talk to registries: httpx is not on the hot path.
"""
