"""Money in integer cents: VAT in basis points, rounded half away from zero (as invoices are)."""

from decimal import ROUND_HALF_UP, Decimal


def vat_cents(net_cents: int, vat_rate_bp: int) -> int:
    """VAT on ``net_cents`` at ``vat_rate_bp`` basis points (2100 = 21 %), rounded to the cent."""
    if not 0 <= vat_rate_bp <= 10000:
        raise ValueError(f"VAT rate {vat_rate_bp} basis points is outside 0-10000")
    exact = Decimal(net_cents) * Decimal(vat_rate_bp) / Decimal(10000)
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))
