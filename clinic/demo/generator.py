"""Deterministic generator of the demo's synthetic patients (``seed_data/patients.csv``).

Run ``python -m clinic.demo.generator [--seed N] [--count N] [--out PATH]``; the same seed always gives the
same file. Everything is fictional: e-mail addresses use the reserved ``example.org`` domain and phone
numbers the NL 097 machine-to-machine block (+31 970 10xx xxxx), which ``phonenumbers`` accepts as
valid NL mobile numbers but which is never a person's handset.
"""

import argparse
import csv
import datetime as dt
import random
import unicodedata
from pathlib import Path

DEFAULT_SEED = 20261123
DEFAULT_COUNT = 300
DEFAULT_OUT = Path(__file__).resolve().parents[2] / "seed_data" / "patients.csv"
REFERENCE_DATE = dt.date(2026, 11, 1)

FIELDS = [
    "mrn", "given_name", "family_name", "birth_date", "phone", "email", "language", "channel",
    "address_line", "postcode", "city", "distance_km", "needs_wheelchair", "needs_interpreter",
    "needs_hearing", "consent", "opted_out",
]  # fmt: skip

GIVEN_NL = ["Anna", "Sanne", "Lotte", "Emma", "Femke", "Ingrid", "Wilma", "Marijke", "Joke", "Greet", "Noor",
            "Jan", "Pieter", "Kees", "Willem", "Henk", "Gerrit", "Bram", "Daan", "Ruud", "Sven", "Theo", "Bas"]  # fmt: skip
GIVEN_FR = ["Camille", "Chloé", "Élise", "Margaux", "Sophie", "Julien", "Mathieu", "Luc", "Thierry", "Amélie"]
GIVEN_EN = ["Emily", "Olivia", "Grace", "James", "Oliver", "Thomas", "Harry", "Sarah", "Michael", "Laura"]
FAMILY_NL = ["de Jong", "Jansen", "de Vries", "van den Berg", "van Dijk", "Bakker", "Janssen", "Visser", "Smit",
             "Meijer", "de Boer", "Mulder", "de Groot", "Bos", "Vos", "Peters", "Hendriks", "van Leeuwen",
             "Dekker", "Brouwer", "de Wit", "Dijkstra", "Smits", "de Graaf", "van der Meer", "Kok", "Jacobs"]  # fmt: skip
FAMILY_FR = ["Dubois", "Lambert", "Martin", "Lefèvre", "Dupont", "Leclercq", "Simon", "Laurent", "Moreau"]
FAMILY_EN = ["Smith", "Jones", "Taylor", "Brown", "Wilson", "Evans", "Walker", "Wright", "Roberts"]
STREETS = ["Lindelaan", "Kerkstraat", "Dorpsweg", "Molenweg", "Beukenlaan", "Schoolstraat", "Stationsweg",
           "Julianastraat", "Parklaan", "Eikenlaan", "Tulpstraat", "Kastanjelaan", "Zonnebloemstraat"]  # fmt: skip
# (city, postcode prefix range, distance range in km to the clinic, weight)
PLACES = [
    ("Utrecht", (3500, 3585), (1, 9), 30), ("Nieuwegein", (3430, 3439), (8, 12), 8),
    ("Zeist", (3700, 3709), (10, 14), 7), ("Houten", (3990, 3995), (9, 13), 6),
    ("De Bilt", (3730, 3739), (6, 9), 5), ("Woerden", (3440, 3449), (18, 22), 5),
    ("Hilversum", (1200, 1223), (20, 24), 4), ("Amersfoort", (3800, 3829), (21, 24.9), 5),
    ("Gouda", (2800, 2809), (30, 36), 3), ("Tiel", (4000, 4009), (35, 40), 3),
    ("Amsterdam", (1011, 1109), (38, 46), 4), ("'s-Hertogenbosch", (5211, 5237), (42, 49), 3),
    ("Ede", (6710, 6719), (40, 48), 2), ("Rotterdam", (3011, 3089), (52, 60), 2),
    ("Zwolle", (8011, 8043), (80, 90), 1), ("Eindhoven", (5611, 5658), (85, 95), 1),
    ("Groningen", (9711, 9747), (140, 150), 1), ("Maastricht", (6211, 6229), (135, 150), 1),
]  # fmt: skip
FRENCH_PLACES = [("Bruxelles", (1000, 1200), (140, 150)), ("Liège", (4000, 4100), (120, 135))]


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower().replace(" ", "").replace("'", "")


def _birth_date(rng: random.Random) -> dt.date:
    """Ages 18-95, weighted towards the 55-80 year olds a day-care unit mostly sees."""
    age = min(95, max(18, round(rng.triangular(18, 95, 68))))
    return REFERENCE_DATE - dt.timedelta(days=age * 365 + rng.randrange(365))


def _place(rng: random.Random, language: str) -> tuple[str, str, float]:
    if language == "fr" and rng.random() < 0.6:
        city, (lo, hi), (dmin, dmax) = rng.choice(FRENCH_PLACES)
        return city, str(rng.randrange(lo, hi)), round(rng.uniform(dmin, dmax), 1)
    city, (lo, hi), (dmin, dmax), _ = rng.choices(PLACES, weights=[p[3] for p in PLACES])[0]
    postcode = f"{rng.randrange(lo, hi)} {chr(65 + rng.randrange(26))}{chr(65 + rng.randrange(26))}"
    return city, postcode, round(rng.uniform(dmin, dmax), 1)


def generate(seed: int = DEFAULT_SEED, count: int = DEFAULT_COUNT) -> list[dict[str, str]]:
    rng = random.Random(seed)
    rows = []
    for n in range(1, count + 1):
        language = rng.choices(["nl", "fr", "en"], weights=[80, 12, 8])[0]
        given = rng.choice({"nl": GIVEN_NL, "fr": GIVEN_FR, "en": GIVEN_EN}[language])
        family = rng.choice({"nl": FAMILY_NL, "fr": FAMILY_FR, "en": FAMILY_EN}[language])
        city, postcode, distance = _place(rng, language)
        channel = rng.choices(["sms", "voice", "email"], weights=[60, 20, 20])[0]
        has_email = channel == "email" or rng.random() < 0.5
        birth = _birth_date(rng)
        age = (REFERENCE_DATE - birth).days // 365
        rows.append(
            {
                "mrn": f"P{n:06d}",
                "given_name": given,
                "family_name": family,
                "birth_date": birth.isoformat(),
                "phone": f"+31 970 10{n // 10000:02d} {n % 10000:04d}",
                "email": f"{_ascii(given)}.{_ascii(family)}{n}@example.org" if has_email else "",
                "language": language,
                "channel": channel,
                "address_line": f"{rng.choice(STREETS)} {rng.randrange(1, 180)}",
                "postcode": postcode,
                "city": city,
                "distance_km": f"{distance:.1f}",
                "needs_wheelchair": _flag(rng.random() < (0.18 if age >= 75 else 0.05)),
                "needs_interpreter": _flag(language != "nl" and rng.random() < 0.4),
                "needs_hearing": _flag(rng.random() < (0.15 if age >= 75 else 0.03)),
                "consent": _flag(rng.random() < 0.92),
                "opted_out": _flag(rng.random() < 0.04),
            }
        )
    return rows


def _flag(value: bool) -> str:
    return "yes" if value else "no"


def write_csv(rows: list[dict[str, str]], path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--count", type=int, default=DEFAULT_COUNT)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    write_csv(generate(args.seed, args.count), args.out)
    print(f"wrote {args.count} patients to {args.out}")


if __name__ == "__main__":
    main()
