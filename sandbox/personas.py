"""Who you can act as on the /sandbox page: a manager, an admin and a stranger, with Telegram ids that work
without editing the configuration."""

from __future__ import annotations

from dataclasses import dataclass

SANDBOX_MANAGER_ID = 1001
SANDBOX_ADMIN_ID = 1000
SANDBOX_STRANGER_ID = 4242
ROLE_LABELS = {"manager": "Менеджер", "admin": "Администратор", "stranger": "Посторонний"}


@dataclass(frozen=True)
class SandboxPersona:
    telegram_id: int
    first_name: str
    role: str  # manager | admin | stranger


def sandbox_access(admins: tuple[int, ...], managers: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The configured admins and managers, plus the personas, so they can try everything."""
    if SANDBOX_ADMIN_ID not in admins:
        admins = (*admins, SANDBOX_ADMIN_ID)
    return admins, managers or (SANDBOX_MANAGER_ID,)


def personas(admins: tuple[int, ...], managers: tuple[int, ...]) -> list[SandboxPersona]:
    """The page's personas, given the access lists sandbox_access returned."""
    return [
        # A first name only: it is what the visitor sees in the widget's header; the role is the switcher's label.
        SandboxPersona(managers[0], "Анна", "manager"),
        SandboxPersona(SANDBOX_ADMIN_ID if SANDBOX_ADMIN_ID in admins else admins[0], "Админ", "admin"),
        SandboxPersona(SANDBOX_STRANGER_ID, "Посторонний", "stranger"),
    ]
