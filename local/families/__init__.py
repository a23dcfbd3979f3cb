"""Three more demo legacy portals ("families"), stdlib only, serving local.portal's OS data:

* ``aspnet``: ASP.NET WebForms (windows-1252, __VIEWSTATE, postback pager, login redirect);
* ``jsf``: JSF/PrimeFaces (UTF-8, javax.faces.ViewState, login form in place, search form);
* ``php``: classic PHP (Latin-1 without charset, 401/404 statuses, frameset, link pager).

``FamilyPortal(family, ...)`` runs one; ``expected_record(family, numero)`` is what a
correct scrape of it yields. ``python -m local.families <family> --port P`` runs one in the
foreground; ``python -m local.families.save_fixtures`` saves tests/fixtures/portals/.
"""

from __future__ import annotations

from local.families.data import FAMILIES, expected_record
from local.families.portal import FamilyPortal

__all__ = ["FAMILIES", "FamilyPortal", "expected_record"]
