"""People, places and identifiers for the seeded world generators of both domains.

Everything here draws from an explicit ``random.Random``; nothing reads the clock, the global
random state or ``hash()``, so a seed always gives the same world. Vocabulary is ours: common US
first and last names, real US cities with their real three-digit ZIP prefixes, and street names.
"""

from __future__ import annotations

import random

import msgspec

__all__ = (
    "FIRST_NAMES",
    "LAST_NAMES",
    "PLACES",
    "Place",
    "PostalAddress",
    "birth_date",
    "email_for",
    "person_name",
    "postal_address",
    "unique_number",
    "user_id_for",
)

FIRST_NAMES = (
    "Aaliyah", "Adrian", "Aisha", "Alejandro", "Alice", "Amara", "Andre", "Angela", "Anjali", "Arjun",
    "Beatriz", "Benjamin", "Bianca", "Brandon", "Caleb", "Camila", "Carlos", "Carmen", "Charlotte", "Chloe",
    "Daniel", "Daria", "David", "Deepa", "Diego", "Eleanor", "Elena", "Elijah", "Emeka", "Emily",
    "Esther", "Ethan", "Farah", "Felix", "Fiona", "Gabriel", "Grace", "Hana", "Hannah", "Hector",
    "Henry", "Hiro", "Imani", "Irene", "Isaac", "Isabel", "Jamal", "James", "Jasmine", "Javier",
    "Jonah", "Julia", "Kai", "Karen", "Keisha", "Kenji", "Laila", "Leah", "Leon", "Lina",
    "Lucia", "Luis", "Malik", "Marcus", "Maria", "Maya", "Mateo", "Megan", "Miguel", "Mina",
    "Nadia", "Naomi", "Nathan", "Nia", "Nikhil", "Nora", "Omar", "Oscar", "Paul", "Priya",
    "Quinn", "Rafael", "Rahul", "Rebecca", "Riya", "Rosa", "Ruth", "Samir", "Sarah", "Sean",
    "Sofia", "Sunil", "Tamara", "Theo", "Tomas", "Valeria", "Victor", "Wei", "Yusuf", "Zara",
)  # fmt: skip

LAST_NAMES = (
    "Abbott", "Adeyemi", "Alvarez", "Bailey", "Banerjee", "Barnes", "Bennett", "Brooks", "Bui", "Campbell",
    "Castillo", "Chang", "Chavez", "Coleman", "Cruz", "Delgado", "Diaz", "Dubois", "Edwards", "Evans",
    "Fischer", "Flores", "Foster", "Gonzalez", "Gordon", "Gupta", "Hayes", "Henderson", "Hoang", "Hughes",
    "Iyer", "Jenkins", "Jimenez", "Kaur", "Kelly", "Khan", "Kim", "Kowalski", "Lambert", "Larsen",
    "Lopez", "Mahmoud", "Mendoza", "Meyer", "Mitchell", "Morales", "Murphy", "Nakamura", "Nair", "Novak",
    "Obi", "Okafor", "Olsen", "Ortiz", "Park", "Patel", "Perry", "Petrov", "Powell", "Price",
    "Quinn", "Ramirez", "Reddy", "Reyes", "Richardson", "Rivera", "Romero", "Russo", "Sanders", "Santiago",
    "Sato", "Schmidt", "Shah", "Silva", "Simmons", "Singh", "Stewart", "Sullivan", "Suzuki", "Tanaka",
    "Torres", "Tran", "Turner", "Vargas", "Vasquez", "Wagner", "Walsh", "Watanabe", "Webb", "Wood",
    "Wright", "Yamamoto", "Yang", "Young", "Yusuf", "Zhang", "Zhao", "Ziegler", "Zimmerman", "Zubiri",
)  # fmt: skip


class Place(msgspec.Struct, frozen=True):
    """A US city, its state and the three-digit ZIP prefixes that serve it."""

    city: str
    state: str
    zip_prefixes: tuple[str, ...]
    weight: int


# Weights roughly follow metro size, so big cities recur the way they do in real customer lists.
PLACES = (
    Place("New York", "NY", ("100", "101", "102"), 9),
    Place("Brooklyn", "NY", ("112",), 4),
    Place("Los Angeles", "CA", ("900", "901"), 8),
    Place("San Diego", "CA", ("921",), 4),
    Place("San Francisco", "CA", ("941",), 4),
    Place("San Jose", "CA", ("951",), 3),
    Place("Sacramento", "CA", ("958",), 2),
    Place("Chicago", "IL", ("606",), 7),
    Place("Houston", "TX", ("770",), 7),
    Place("Dallas", "TX", ("752",), 6),
    Place("Austin", "TX", ("787",), 5),
    Place("San Antonio", "TX", ("782",), 4),
    Place("Fort Worth", "TX", ("761",), 3),
    Place("El Paso", "TX", ("799",), 2),
    Place("Phoenix", "AZ", ("850",), 5),
    Place("Tucson", "AZ", ("857",), 2),
    Place("Philadelphia", "PA", ("191",), 5),
    Place("Pittsburgh", "PA", ("152",), 2),
    Place("Miami", "FL", ("331",), 4),
    Place("Orlando", "FL", ("328",), 3),
    Place("Tampa", "FL", ("336",), 3),
    Place("Jacksonville", "FL", ("322",), 3),
    Place("Columbus", "OH", ("432",), 3),
    Place("Cleveland", "OH", ("441",), 2),
    Place("Cincinnati", "OH", ("452",), 2),
    Place("Charlotte", "NC", ("282",), 3),
    Place("Raleigh", "NC", ("276",), 2),
    Place("Indianapolis", "IN", ("462",), 3),
    Place("Seattle", "WA", ("981",), 4),
    Place("Spokane", "WA", ("992",), 1),
    Place("Denver", "CO", ("802",), 4),
    Place("Colorado Springs", "CO", ("809",), 2),
    Place("Washington", "DC", ("200",), 4),
    Place("Boston", "MA", ("021",), 4),
    Place("Nashville", "TN", ("372",), 3),
    Place("Memphis", "TN", ("381",), 2),
    Place("Detroit", "MI", ("482",), 3),
    Place("Portland", "OR", ("972",), 3),
    Place("Las Vegas", "NV", ("891",), 3),
    Place("Louisville", "KY", ("402",), 2),
    Place("Baltimore", "MD", ("212",), 2),
    Place("Milwaukee", "WI", ("532",), 2),
    Place("Albuquerque", "NM", ("871",), 2),
    Place("Atlanta", "GA", ("303",), 5),
    Place("Kansas City", "MO", ("641",), 2),
    Place("Omaha", "NE", ("681",), 1),
    Place("Minneapolis", "MN", ("554",), 3),
    Place("New Orleans", "LA", ("701",), 2),
    Place("Salt Lake City", "UT", ("841",), 2),
    Place("Boise", "ID", ("837",), 1),
    Place("Richmond", "VA", ("232",), 2),
    Place("Honolulu", "HI", ("968",), 1),
)

_PLACE_CUM_WEIGHTS = tuple(sum(p.weight for p in PLACES[: i + 1]) for i in range(len(PLACES)))

_STREETS = (
    "Maple Avenue", "Oak Street", "Cedar Lane", "Elm Street", "Pine Road", "Willow Way", "Birch Court",
    "Chestnut Street", "Walnut Avenue", "Spruce Drive", "Magnolia Boulevard", "Juniper Place",
    "Sycamore Lane", "Aspen Circle", "Cypress Avenue", "Hawthorn Road", "Linden Street", "Poplar Drive",
    "Main Street", "Market Street", "Church Street", "Mill Road", "River Road", "Lake Shore Drive",
    "Highland Avenue", "Park Place", "Washington Street", "Lincoln Avenue", "Franklin Street",
    "Jefferson Avenue", "Madison Street", "Monroe Drive", "Harbor View Road", "Sunrise Terrace",
    "Meadow Lane", "Ridge Road", "Valley View Drive", "Orchard Street", "Prospect Avenue", "Summit Street",
)  # fmt: skip


class PostalAddress(msgspec.Struct, frozen=True, kw_only=True):
    """A US postal address in the field layout both tau2 domains use."""

    address1: str
    address2: str
    city: str
    country: str
    state: str
    zip: str


def person_name(rng: random.Random) -> tuple[str, str]:
    """A random ``(first_name, last_name)``."""
    return rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)


def postal_address(rng: random.Random) -> PostalAddress:
    """A random address in a real US city, with a ZIP code under one of that city's prefixes."""
    place = rng.choices(PLACES, cum_weights=_PLACE_CUM_WEIGHTS)[0]
    roll = rng.random()
    if roll < 0.45:
        address2 = f"Suite {rng.randint(100, 999)}"
    elif roll < 0.75:
        address2 = f"Apt {rng.randint(1, 30)}{rng.choice('ABCDEF')}"
    elif roll < 0.9:
        address2 = f"Unit {rng.randint(1, 400)}"
    else:
        address2 = ""
    return PostalAddress(
        address1=f"{rng.randint(10, 9999)} {rng.choice(_STREETS)}",
        address2=address2,
        city=place.city,
        country="USA",
        state=place.state,
        zip=rng.choice(place.zip_prefixes) + f"{rng.randint(1, 99):02d}",
    )


def birth_date(rng: random.Random, first_year: int, last_year: int) -> str:
    """A random ``YYYY-MM-DD`` between Jan 1 of ``first_year`` and Dec 28 of ``last_year``."""
    # Days up to 28 keep every month valid without a calendar lookup.
    return f"{rng.randint(first_year, last_year)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"


def unique_number(rng: random.Random, digits: int, taken: set[str], prefix: str = "") -> str:
    """``prefix`` plus a random ``digits``-digit number (no leading zero) not yet in ``taken``; adds it."""
    low, high = 10 ** (digits - 1), 10**digits
    while True:
        candidate = f"{prefix}{rng.randrange(low, high)}"
        if candidate not in taken:
            taken.add(candidate)
            return candidate


def _slug(name: str) -> str:
    return "".join(c for c in name.lower() if c.isalnum())


def user_id_for(rng: random.Random, first: str, last: str, taken: set[str]) -> str:
    """A fresh tau2-style user id, ``first_last_1234``, not yet in ``taken``; adds it."""
    return unique_number(rng, 4, taken, prefix=f"{_slug(first)}_{_slug(last)}_")


def email_for(rng: random.Random, first: str, last: str, taken: set[str]) -> str:
    """A fresh ``first.last1234@example.com`` not yet in ``taken`` (compared lower-case); adds it."""
    local = unique_number(rng, 4, taken, prefix=f"{_slug(first)}.{_slug(last)}")
    return f"{local}@example.com"
