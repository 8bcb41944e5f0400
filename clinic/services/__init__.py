"""Services: keyword-only functions (``book_visit(*, session, ...)``) that raise ``clinic.errors`` domain
errors and never import Flask. Screens and jobs call these; these call ``scheduling`` with plain dataclasses."""
