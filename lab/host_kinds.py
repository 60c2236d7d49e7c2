"""Host kinds of the lab's host profiles (lab/profiles.py), on top of lab/images.py's common part.

All three run systemd as PID 1 (the systemd part is appended by ``images.ensure_host_image``):

- ``linux-sudo``: a Debian host reached as the non-root user ``deploy`` with passwordless sudo
  (``ssh_user: deploy``, ``_sudo: True``), root login refused by sshd (``PermitRootLogin no``),
  as cloud images ship (``ubuntu``/``admin``/``debian`` users).
- ``wsl-systemd``: a WSL2 distro with ``[boot] systemd=true`` (the default of Ubuntu installed by
  ``wsl --install``): systemd is PID 1, WSL's markers (``/run/WSL``, ``/usr/lib/wsl/lib``,
  ``/etc/wsl.conf``) are there. The deploy installs Docker Engine in the distro.
- ``wsl-desktop``: the same distro with Docker Desktop's WSL integration instead of an engine
  (lab/docker_desktop.py starts the engine outside the distro; see
  lab/docker_desktop/CONTRACT.md). The integration's proxy is started by a unit here, as Docker
  Desktop starts it through ``wsl.exe`` on Windows.
"""

from __future__ import annotations

WSL_SYSTEMD_CONF = """\
# /etc/wsl.conf of a WSL2 distro with systemd on (lab stand-in of a WSL2 distro)
[boot]
systemd=true

[automount]
enabled = true
options = "metadata"

[interop]
enabled = true
appendWindowsPath = true
"""

# WSL's init creates /run/WSL before it starts systemd; /run is a tmpfs here, so tmpfiles does
TMPFILES_WSL = "d /run/WSL 0755 root root -\n"

# The lab's key is mounted root-only (0600); sshd reads ~/.ssh/authorized_keys as the user, so
# the key reaches sshd through AuthorizedKeysCommand (run as root) instead.
DEPLOY_KEYS = "/etc/ssh/lab-deploy-authorized-keys"
SSHD_NO_ROOT = f"""\
PermitRootLogin no
PasswordAuthentication no
UseDNS no
AuthorizedKeysCommand /bin/cat {DEPLOY_KEYS}
AuthorizedKeysCommandUser root
"""

SUDOERS_DEPLOY = "deploy ALL=(ALL:ALL) NOPASSWD: ALL\n"

# Lab stand-in of Docker Desktop's launch of its proxy in the user distro (Docker Desktop runs
# `/mnt/wsl/docker-desktop/docker-desktop-user-distro proxy --docker-desktop-root
# /mnt/wsl/docker-desktop` through wsl.exe). Named lab-*, not docker.*: no docker.service here.
DESKTOP_PROXY_UNIT = """\
[Unit]
Description=lab stand-in: Docker Desktop starts its WSL integration proxy in this distro
After=local-fs.target

[Service]
Type=simple
ExecStart=/bin/sh -c 'while [ ! -x /mnt/wsl/docker-desktop/docker-desktop-user-distro ]; \\
  do sleep 0.5; done; exec /mnt/wsl/docker-desktop/docker-desktop-user-distro proxy \\
  --docker-desktop-root /mnt/wsl/docker-desktop'
Restart=always
RestartSec=1

[Install]
WantedBy=multi-user.target
"""


def profile_kind_build(kind: str) -> tuple[str, dict[str, bytes]]:
    """(Dockerfile lines, files) of a profile host kind, put before the systemd part."""
    if kind == "linux-sudo":
        return (
            """\
COPY sshd-no-root.conf /etc/ssh/sshd_config.d/lab.conf
COPY sudoers-deploy /etc/sudoers.d/deploy
RUN useradd -m -s /bin/bash deploy && mkdir -p /home/deploy/.ssh \\
    && chown deploy:deploy /home/deploy/.ssh && chmod 700 /home/deploy/.ssh \\
    && chmod 440 /etc/sudoers.d/deploy && chmod 644 /etc/ssh/sshd_config.d/lab.conf
""",
            {
                "sshd-no-root.conf": SSHD_NO_ROOT.encode(),
                "sudoers-deploy": SUDOERS_DEPLOY.encode(),
            },
        )
    wsl = """\
COPY wsl.conf /etc/wsl.conf
COPY tmpfiles-wsl.conf /usr/lib/tmpfiles.d/lab-wsl.conf
RUN mkdir -p /usr/lib/wsl/lib /usr/lib/wsl/drivers /mnt/wsl \\
    && chmod 644 /etc/wsl.conf /usr/lib/tmpfiles.d/lab-wsl.conf
"""
    files = {
        "wsl.conf": WSL_SYSTEMD_CONF.encode(),
        "tmpfiles-wsl.conf": TMPFILES_WSL.encode(),
    }
    if kind == "wsl-systemd":
        return wsl, files
    if kind == "wsl-desktop":
        return (
            wsl
            + """\
COPY lab-docker-desktop-proxy.service /etc/systemd/system/lab-docker-desktop-proxy.service
RUN chmod 644 /etc/systemd/system/lab-docker-desktop-proxy.service \\
    && systemctl enable lab-docker-desktop-proxy.service
""",
            {**files, "lab-docker-desktop-proxy.service": DESKTOP_PROXY_UNIT.encode()},
        )
    raise ValueError(f"not a profile host kind: {kind!r}")
