"""Host provisioning: read a host (``reading``, ``facts``), check it (``preflight``), and install
or repair Docker Engine, the NVIDIA Container Toolkit and daemon.json."""
