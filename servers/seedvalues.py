"""What a column holds (its semantic kind) and a value of that kind.

A column's kind comes from its type, name, table and description: `customer_email` is an e-mail,
`check_in_date` a date, `nightly_rate` money, `checked_bags` a small count whose range "(0-3)" the
description states. Values of one row share a person and a place (`RowContext`), so a row's
e-mail matches its name and its city, country, currency, phone prefix and postal code agree.
Only `random.Random` draws the values, so the same spec and seed give the same rows everywhere.
"""

from __future__ import annotations

import datetime as dt
import random
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from servers import seeddata as data
from servers.spec import Column, Table

DATE_START = dt.date(2024, 1, 1)
DATE_SPAN_DAYS = 900

PERSON_TABLE_WORDS = {
    "customer", "user", "passenger", "employee", "person", "people", "member", "owner", "contact",
    "patient", "guest", "fan", "renter", "driver", "author", "doctor", "agent", "student", "teacher",
    "subscriber", "client", "attendee", "player", "staff", "borrower", "traveler", "traveller",
    "applicant", "candidate", "reviewer", "speaker", "host", "tenant", "volunteer",
}
COMPANY_WORDS = {
    "company", "vendor", "supplier", "merchant", "airline", "bank", "organization", "organisation", "org",
    "brand", "publisher", "manufacturer", "employer", "carrier", "provider", "partner", "agency", "firm",
}
PRODUCT_TABLE_WORDS = {"product", "item", "article", "good", "merchandise", "menu", "dish", "sku", "part"}
# Tables whose rows are named places: a hotel is called like a hotel, a clinic like a clinic.
VENUE_TABLE_WORDS = {
    "hotel", "restaurant", "venue", "store", "shop", "branch", "clinic", "library", "office", "site",
    "warehouse", "location", "theater", "theatre", "gym", "school", "hospital", "pharmacy", "station",
    "museum", "cafe", "bar", "salon", "garage", "depot", "room", "hall", "stadium", "arena",
}
NOTE_WORDS = {
    "note", "notes", "comment", "comments", "message", "remark", "remarks", "body", "text", "content",
    "reason", "memo", "instructions", "instruction", "request", "requests", "feedback", "review", "answer",
    "reply", "response", "explanation", "details",
}
DESCRIPTION_WORDS = {"description", "summary", "about", "bio", "overview", "purpose", "abstract", "synopsis"}
TIME_OF_DAY_HINT = re.compile(r"HH:MM|\b24h\b|time of day|hh:mm", re.IGNORECASE)
# A time column named after an event (insert_time, publish_time) is a moment, not a time of day.
TIMESTAMP_EVENT_WORDS = {"start", "end", "expiry", "expires", "expiration", "insert", "inserted", "creation",
                         "publish", "published", "completed", "completion", "last", "modified", "deleted", "event",
                         "submit", "submitted", "received", "sent", "issued", "processed", "finish", "finished"}
# "YYYY-MM-DDTHH:MM:SSZ" mentions HH:MM too, but describes a full date-time.
FULL_DATE_HINT = re.compile(r"YYYY|yyyy|ISO.?8601|RFC.?3339|date", re.IGNORECASE)
DATETIME_WORDS = {"timestamp", "datetime", "created", "updated", "modified", "creation", "deleted", "expires",
                  "expiry", "expiration", "inserted", "last", "at", "on", "since", "until", "date"}
_NUMBER = r"-?\d+(?:\.\d+)?"
_RANGE_PATTERNS = (
    re.compile(rf"\(\s*({_NUMBER})\s*(?:-|–|to|\.\.)\s*({_NUMBER})\s*\)"),
    re.compile(rf"\bbetween\s+({_NUMBER})\s+and\s+({_NUMBER})", re.IGNORECASE),
    re.compile(rf"\bfrom\s+({_NUMBER})\s+to\s+({_NUMBER})\b", re.IGNORECASE),
    re.compile(rf"\brange\s*:?\s*({_NUMBER})\s*(?:-|–|to)\s*({_NUMBER})\b", re.IGNORECASE),
)
_MAX_PATTERN = re.compile(rf"\b(?:at most|up to|maximum(?: of)?|max\.?|no more than)\s+({_NUMBER})\b",
                          re.IGNORECASE)
_MIN_PATTERN = re.compile(rf"\b(?:at least|minimum(?: of)?|min\.?|no less than)\s+({_NUMBER})\b", re.IGNORECASE)


def name_words(name: str) -> list[str]:
    """Lower-case word parts of a name, in order: 'customerEmail' and 'customer_email' -> [customer, email]."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    return [w for w in re.split(r"[_\W]+", spaced.lower()) if w]


def singular(word: str) -> str:
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "shes", "ches", "xes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")) and len(word) > 3:
        return word[:-1]
    return word


def stated_range(column: Column) -> tuple[float | None, float | None]:
    """(minimum, maximum) a column's description states: "(0-3)", "between 1 and 5", "at most 8"."""
    return range_in_text(column.description or "")


def range_in_text(text: str) -> tuple[float | None, float | None]:
    """(minimum, maximum) a text states; (None, None) when it states none."""
    for pattern in _RANGE_PATTERNS:
        match = pattern.search(text)
        if match:
            low, high = float(match.group(1)), float(match.group(2))
            return (low, high) if low <= high else (high, low)
    high_match, low_match = _MAX_PATTERN.search(text), _MIN_PATTERN.search(text)
    return (float(low_match.group(1)) if low_match else None, float(high_match.group(1)) if high_match else None)


def is_identifier(column: Column, table: Table) -> bool:
    """A key or a reference: its values name rows, so they are codes, not words."""
    words = name_words(column.name)
    if column.name == table.primary_key or any(fk.column == column.name for fk in table.foreign_keys):
        return True
    return bool(words) and words[-1] in {"id", "ids", "uuid", "guid", "arn", "oid"}


@dataclass
class RowContext:
    """What one row's values share: one person, one place, one company (drawn when first needed)."""

    rng: random.Random
    values: dict[str, Any] = field(default_factory=dict)
    _person: tuple[str, str] | None = None
    _place: data.Place | None = None
    _company: str | None = None

    @property
    def person(self) -> tuple[str, str]:
        if self._person is None:
            self._person = (self.rng.choice(data.FIRST_NAMES), self.rng.choice(data.LAST_NAMES))
        return self._person

    @property
    def place(self) -> data.Place:
        if self._place is None:
            self._place = self.rng.choice(data.PLACES)
        return self._place

    @property
    def company(self) -> str:
        if self._company is None:
            self._company = f"{self.rng.choice(data.COMPANY_STEMS)} {self.rng.choice(data.COMPANY_SUFFIXES)}"
        return self._company


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Za-z]", "", folded).lower() or "user"


def _postal(fmt: str, rng: random.Random) -> str:
    out = []
    for ch in fmt:
        if ch == "9":
            out.append(str(rng.randrange(10)))
        elif ch == "A":
            out.append(rng.choice("ABCDEFGHJKLMNPRSTVWXY"))
        else:
            out.append(ch)
    return "".join(out)


def _phone(place: data.Place, rng: random.Random) -> str:
    if place.dialling_code == "1":
        return f"+1-{rng.randrange(201, 990)}-555-{rng.randrange(0, 10000):04d}"
    return f"+{place.dialling_code} {rng.randrange(200, 1000)} {rng.randrange(100, 1000)} {rng.randrange(100, 1000)}"


def random_date(rng: random.Random) -> dt.date:
    return DATE_START + dt.timedelta(days=rng.randrange(DATE_SPAN_DAYS))


def random_datetime(rng: random.Random) -> str:
    day = random_date(rng)
    return f"{day.isoformat()}T{rng.randrange(6, 22):02d}:{rng.choice([0, 15, 30, 45]):02d}:00Z"


class ColumnKind:
    """The kind of one column and how to make its values; computed once per (table, column)."""

    def __init__(self, column: Column, table: Table) -> None:
        self.column = column
        self.table = table
        self.words = name_words(column.name)
        self.word_set = set(self.words)
        self.table_words = {singular(w) for w in name_words(table.name)}
        self.other_columns = {w for c in table.columns for w in name_words(c.name)}
        self.low, self.high = stated_range(column)
        self.kind = self._classify()

    # -- classification -------------------------------------------------------------------------

    def _classify(self) -> str:
        c, w, t = self.column, self.word_set, self.table_words
        if c.type in ("enum", "boolean", "json"):
            return c.type
        if c.type == "date":
            if w & {"birth", "dob", "birthday", "born"}:
                return "birth_date"
            return "datetime" if w & {"time", "timestamp", "datetime"} else "date"
        if c.type in ("integer", "number"):
            if self.low is not None and self.high is not None and 19000101 <= self.low <= self.high <= 99991231:
                return "yyyymmdd"  # a date written as a number: its stated range says so
            if self.low is None and self.high is None and c.type == "integer" and self.words and (self.words[-1] in {"date", "timestamp", "epoch"}
                                                       or re.fullmatch(r"(from|to|min|max|since|until)date", c.name.lower())):
                return "epoch"  # fromdate, creation_date as seconds since 1970
            return "number"
        if is_identifier(c, self.table):
            return "identifier"
        name = c.name.lower()
        last = self.words[-1] if self.words else ""
        if last in {"lat", "lon", "lng", "latitude", "longitude", "radius"}:
            return "numeral"  # WMATA's `Lat`, `Radius` typed string: a number written as text
        if w & {"email", "mail"} or name.endswith("email"):
            return "email"
        if w & {"phone", "mobile", "tel", "telephone", "fax"}:
            return "phone"
        if w & {"url", "uri", "link", "href", "website", "homepage", "avatar", "image", "icon", "thumbnail",
                "endpoint", "callback", "webhook"}:
            return "url"
        if last in {"by", "user", "owner"} or w & {"author", "creator"}:
            return "full_name"  # created_by, updated_by_user: a person, not a time
        if TIME_OF_DAY_HINT.search(c.description or "") and not FULL_DATE_HINT.search(c.description or ""):
            return "clock"
        if w & {"timestamp", "datetime", "created", "updated", "modified", "creation", "deleted"} \
                or last in {"at", "date", "on"} or (w & {"date", "time"} and w & TIMESTAMP_EVENT_WORDS):
            return "datetime"
        if w & {"time", "hour"}:
            return "clock"
        if re.fullmatch(r"last_?\d", name) or w & {"pin", "cvv", "digits", "last4"}:
            return "digits"
        if w & {"first", "given", "forename"} and "name" in w or name in {"firstname", "first"}:
            return "first_name"
        if w & {"last", "family", "surname"} and ("name" in w or "surname" in w) or name in {"lastname", "surname"}:
            return "last_name"
        if w & {"username", "login", "handle", "nickname", "screen"} or (w >= {"user", "name"}):
            return "username"
        if w & {"password", "secret", "token", "etag", "hash", "fingerprint", "checksum", "signature", "sha",
                "digest", "nonce", "salt", "marker", "cursor"}:
            return "hex"
        if w & {"city", "town"}:
            return "city"
        if w & {"country", "nationality"}:
            return "country_code" if w & {"code", "iso"} or c.description.lower().find("iso") >= 0 else "country"
        if w & {"zip", "postal", "postcode"}:
            return "postal"
        if w & {"address", "street"} and not w & {"ip", "mac", "email"}:
            return "address"
        if w & {"ip", "ipv4"}:
            return "ip"
        if w & {"state", "province", "county"} and ("city" in self.other_columns or "country" in self.other_columns):
            return "region_name"
        if "region" in w:
            return "region_name" if {"city", "country"} & self.other_columns else "cloud_region"
        if "zone" in w and not w & {"time"}:
            return "cloud_zone"
        if w & {"timezone", "tz"} or w >= {"time", "zone"}:
            return "timezone"
        if w & {"airport", "origin", "destination"} or name in {"src", "dst"}:
            return "airport"
        if w & {"shelf", "aisle", "bin", "rack", "bay"}:
            return "shelf"
        if w & {"location", "place", "venue"} and not w & {"id"}:
            return "location"
        if w & {"currency"}:
            return "currency"
        if w & {"language", "lang", "locale"}:
            return "language"
        if w & {"mime", "mimetype"} or w >= {"content", "type"} or w >= {"media", "type"}:
            return "mime"
        if w & {"filename", "file", "path", "filepath", "attachment"}:
            return "file"
        if w & {"domain", "host", "hostname"}:
            return "domain"
        if w & {"version", "release"}:
            return "version"
        if w & {"color", "colour"}:
            return "color"
        if w & {"seat"}:
            return "seat"
        if w & {"iban"}:
            return "iban"
        if w & {"isbn"}:
            return "isbn"
        if w >= {"flight", "number"}:
            return "flight_number"
        if w & {"sku", "code", "number", "reference", "ref", "serial", "plate", "vin", "confirmation", "locator",
                "pnr", "barcode", "isbn", "account", "invoice", "tracking", "license", "licence", "coupon"}:
            return "code"
        if w & COMPANY_WORDS:
            return "company"
        if w & {"job", "occupation", "position", "profession"} or (w & {"title", "role"} and t & PERSON_TABLE_WORDS):
            return "job_title"
        if w & DESCRIPTION_WORDS:
            return "description"
        if w & NOTE_WORDS:
            return "sentence"
        if w & {"subject", "headline", "topic", "caption", "heading"}:
            return "subject"
        if w & {"status", "state", "phase", "stage"}:
            return "status_word"
        if w & {"category", "type", "kind", "department", "genre", "group", "class", "segment", "section"}:
            return "category"
        if w & {"tag", "tags", "label", "labels", "keyword", "keywords"} and "name" not in w:
            return "tag"
        if w & {"name", "title", "label", "display", "nickname", "alias"}:
            return self._name_kind()
        if w & {"owner", "author", "assignee", "creator", "manager", "reporter", "contact", "recipient", "sender",
                "user", "by", "holder", "customer", "passenger", "patient", "member"}:
            return "full_name"
        if w & {"project", "bucket", "repository", "repo", "namespace", "cluster", "workspace", "service",
                "instance", "database", "dataset", "topic", "queue", "branch", "bundle", "stack", "pipeline"}:
            return "slug"
        return "slug"

    def _name_kind(self) -> str:
        w, t = self.word_set, self.table_words
        if w & {"full", "holder", "owner", "customer", "passenger", "person", "contact", "patient", "guest"} \
                or (t & PERSON_TABLE_WORDS and not w & {"title", "label"}):
            return "full_name"
        if t & COMPANY_WORDS or w & COMPANY_WORDS:
            return "company"
        if t & PRODUCT_TABLE_WORDS:
            return "product"
        if t & VENUE_TABLE_WORDS:
            return "venue"
        if "title" in w or t & {"book", "title", "film", "movie", "album", "song", "course", "event", "show",
                                "article", "post", "episode", "task", "ticket", "issue", "plan", "project"}:
            return "title"
        return "proper_name"

    # -- values ---------------------------------------------------------------------------------

    def value(self, ctx: RowContext, n: int) -> Any:
        c, rng = self.column, ctx.rng
        if c.type == "enum":
            return rng.choice(c.enum or [""])
        if c.type == "boolean":
            # Flags that describe a normal state ("active", "verified") are mostly true.
            if self.word_set & {"active", "enabled", "verified", "available", "refundable", "open", "public"}:
                return rng.random() < 0.85
            return rng.random() < 0.3
        if self.kind == "birth_date":
            return (dt.date(1950, 1, 1) + dt.timedelta(days=rng.randrange(20_000))).isoformat()
        if self.kind == "datetime" and c.type == "date":
            return random_datetime(rng)
        if c.type == "date":
            return random_date(rng).isoformat()
        if c.nullable and self.word_set & {"reason", "note", "notes", "comment", "memo"} and rng.random() < 0.6:
            # Nullable columns that describe an exception (why something was cancelled) are mostly empty.
            return None
        if self.kind == "yyyymmdd":
            low = dt.date(int(self.low or 0) // 10000, 1, 1)
            return int(max(random_date(rng), low).strftime("%Y%m%d"))
        if self.kind == "epoch":
            moment = dt.datetime.combine(random_date(rng), dt.time(rng.randrange(6, 22)), tzinfo=dt.UTC)
            return int(moment.timestamp())
        if c.type == "integer":
            return self._integer(rng)
        if c.type == "number":
            return self._number(rng)
        if c.type == "json":
            return rng.sample(data.TAGS, 2)
        return self._string(ctx, n)

    def _bounded(self, rng: random.Random, low: float, high: float, integer: bool) -> float:
        """A value in the stated range when the description gives one, else in the name's usual span."""
        if self.low is not None and self.high is not None:
            low, high = self.low, self.high
        elif self.low is not None:
            low, high = self.low, high if high > self.low else self.low + 10
        elif self.high is not None:
            low, high = min(low, self.high), self.high
        if integer:
            first, last = int(-(-low // 1)), int(high // 1)
            return rng.randint(first, last) if first <= last else first
        return round(rng.uniform(low, high), 2)

    def _integer(self, rng: random.Random) -> int:
        w = self.word_set
        if w & {"bags", "bag", "luggage", "children", "infants", "pets"}:
            span = (0, 3)
        elif w & {"quantity", "qty", "nights", "guests", "passengers", "occupancy", "adults", "beds", "units",
                  "tickets", "seats", "persons", "people", "party", "size"} and not w & {"available", "remaining"}:
            span = (1, 6)
        elif w & {"renewals", "retries", "attempts", "floor", "priority", "level"}:
            span = (0, 5)
        elif w & {"stock", "inventory", "available", "remaining", "capacity"}:
            span = (0, 120)
        elif "age" in w:
            span = (18, 80)
        elif "year" in w:
            span = (1995, 2025)
        elif "month" in w:
            span = (1, 12)
        elif "day" in w:
            span = (1, 28)
        elif w & {"hour", "hours"}:
            span = (0, 23)
        elif w & {"rating", "stars", "star", "score"}:
            span = (1, 5)
        elif w & {"minutes", "duration", "mins"}:
            span = (15, 240)
        elif w & {"percent", "percentage", "pct"}:
            span = (0, 100)
        elif w & {"points", "miles"}:
            span = (0, 50_000)
        elif w >= {"status", "code"} or w >= {"http", "code"}:
            return rng.choice([200, 201, 204, 400, 403, 404, 409, 429, 500, 503])
        elif w & {"port"}:
            span = (1024, 65_535)
        elif w & {"cents", "amount", "price", "balance", "total", "cost", "fee"}:
            span = (100, 500_000)
        elif w & {"count", "total", "number", "num"}:
            span = (0, 250)
        else:
            span = (1, 1000)
        return int(self._bounded(rng, span[0], span[1], integer=True))

    def _number(self, rng: random.Random) -> float:
        w = self.word_set
        if w & {"lat", "latitude"}:
            return round(rng.uniform(-60, 70), 5)
        if w & {"lon", "lng", "longitude"}:
            return round(rng.uniform(-180, 180), 5)
        if w & {"rating", "stars", "score"}:
            span = (1.0, 5.0)
        elif w & {"rate", "percent", "pct", "discount", "tax"} and not w & {"nightly", "daily", "hourly", "monthly",
                                                                             "weekly"}:
            span = (0.0, 30.0)
        elif w & {"fee", "fees", "shipping", "tip", "surcharge", "deposit"}:
            span = (0.0, 40.0)
        elif w & {"balance", "limit"}:
            span = (50.0, 25_000.0)
        elif w & {"weight", "kg"}:
            span = (0.1, 40.0)
        else:
            span = (4.0, 600.0)
        return float(self._bounded(rng, span[0], span[1], integer=False))

    def _string(self, ctx: RowContext, n: int) -> str:
        rng, kind = ctx.rng, self.kind
        first, last = ctx.person
        place = ctx.place if kind in _PLACE_KINDS else None
        if kind == "identifier":
            return "".join(rng.choice("0123456789abcdef") for _ in range(12))
        if kind == "numeral":
            return str(self._number(rng))
        if kind == "email":
            return self._email(ctx)
        if kind == "phone":
            return _phone(ctx.place, rng)
        if kind == "url":
            host = f"{_ascii(ctx.company.split()[0])}.example.com"
            stem = rng.choice(data.NAME_NOUNS)
            if self.word_set & {"avatar", "image", "icon", "thumbnail"}:
                return f"https://{host}/images/{stem}.png"
            return f"https://{host}/{rng.choice(data.NAME_ADJECTIVES)}-{stem}"
        if kind == "clock":
            return f"{rng.randint(6, 21):02d}:{rng.choice([0, 15, 30, 45]):02d}"
        if kind == "datetime":
            return random_datetime(rng)
        if kind == "digits":
            return f"{rng.randrange(10_000):04d}"
        if kind == "first_name":
            return first
        if kind == "last_name":
            return last
        if kind == "full_name":
            return f"{first} {last}"
        if kind == "username":
            return f"{_ascii(first)}.{_ascii(last)}"
        if kind == "hex":
            return "".join(rng.choice("0123456789abcdef") for _ in range(24))
        if place is not None:
            return self._place_value(kind, place, rng)
        if kind == "ip":
            return f"203.0.113.{rng.randrange(1, 255)}"
        if kind == "cloud_region":
            return rng.choice(data.CLOUD_REGIONS)
        if kind == "cloud_zone":
            return f"{rng.choice(data.CLOUD_REGIONS)}{rng.choice(data.ZONE_SUFFIXES)}"
        if kind == "mime":
            return rng.choice(data.MIME_TYPES)
        if kind == "file":
            name = f"{rng.choice(data.FILE_STEMS)}-{rng.choice(data.NAME_NOUNS)}.{rng.choice(data.FILE_EXTENSIONS)}"
            return f"/{rng.choice(data.TAGS)}/{name}" if self.word_set & {"path", "filepath"} else name
        if kind == "domain":
            return f"{_ascii(ctx.company.split()[0])}.example.com"
        if kind == "version":
            return f"{rng.randint(1, 4)}.{rng.randint(0, 12)}.{rng.randint(0, 9)}"
        if kind == "color":
            return rng.choice(data.COLORS)
        if kind == "seat":
            return f"{rng.randint(1, 40)}{rng.choice('ABCDEF')}"
        if kind == "shelf":
            return f"{rng.choice('ABCDEFGH')}{rng.randint(1, 12)}-{rng.randint(1, 40):02d}"
        if kind == "isbn":
            digits = [9, 7, 8] + [rng.randrange(10) for _ in range(9)]
            check = (10 - sum(d * (3 if i % 2 else 1) for i, d in enumerate(digits)) % 10) % 10
            text = "".join(map(str, digits + [check]))
            return f"{text[:3]}-{text[3]}-{text[4:8]}-{text[8:12]}-{text[12]}"
        if kind == "iban":
            return f"DE{rng.randrange(10, 100)} {' '.join(f'{rng.randrange(10_000):04d}' for _ in range(4))} 00"
        if kind == "flight_number":
            return f"{rng.choice(['TP', 'LH', 'AC', 'NH', 'AA', 'AF', 'IB', 'SK', 'KL', 'BA'])}{rng.randint(100, 2999)}"
        if kind == "code":
            letters = "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(2))
            return f"{letters}{rng.randrange(10_000, 99_999)}"
        if kind == "company":
            return ctx.company
        if kind == "job_title":
            return rng.choice(data.JOB_TITLES)
        if kind == "description":
            return f"{rng.choice(data.DESCRIPTION_OPENERS)} {rng.choice(data.TOPICS)} {rng.choice(data.DESCRIPTION_CLOSERS)}"
        if kind == "sentence":
            return rng.choice(data.SENTENCES)
        if kind == "subject":
            topic = rng.choice(data.TOPICS)
            return f"{topic[0].upper()}{topic[1:]} {rng.choice(['review', 'question', 'schedule', 'follow-up'])}"
        if kind == "status_word":
            return rng.choice(data.STATUS_WORDS)
        if kind == "category":
            return rng.choice(data.CATEGORIES)
        if kind == "tag":
            return rng.choice(data.TAGS)
        if kind == "product":
            return f"{rng.choice(data.PRODUCT_ADJECTIVES)} {rng.choice(data.PRODUCT_NOUNS)}"
        if kind == "venue":
            noun = max(sorted(self.table_words & VENUE_TABLE_WORDS), key=len)  # sorted: sets vary by process
            return f"{rng.choice(data.COMPANY_STEMS)} {noun.capitalize()}"
        if kind == "title":
            adjective, noun = rng.choice(data.NAME_ADJECTIVES).capitalize(), rng.choice(data.NAME_NOUNS).capitalize()
            if self.table_words & {"book", "film", "movie", "album", "song", "episode", "show", "title", "article"}:
                return f"The {adjective} {noun}" if rng.random() < 0.5 else f"{noun} of the {adjective} {rng.choice(data.NAME_NOUNS).capitalize()}"
            topic = rng.choice(data.TOPICS)
            return f"{topic[0].upper()}{topic[1:]} {rng.choice(['kickoff', 'workshop', 'review', 'plan', 'sync'])}"
        if kind == "proper_name":
            return f"{rng.choice(data.NAME_ADJECTIVES).capitalize()} {rng.choice(data.NAME_NOUNS).capitalize()}"
        return f"{rng.choice(data.NAME_ADJECTIVES)}-{rng.choice(data.NAME_NOUNS)}"

    def _place_value(self, kind: str, place: data.Place, rng: random.Random) -> str:
        if kind == "city":
            return place.city
        if kind == "country":
            return place.country
        if kind == "country_code":
            return place.country_code
        if kind == "postal":
            return _postal(place.postal_format, rng)
        if kind == "address":
            if "city" in self.other_columns:
                return f"{rng.randint(1, 250)} {rng.choice(data.STREETS)}"
            return f"{rng.randint(1, 250)} {rng.choice(data.STREETS)}, {place.city}, {place.country}"
        if kind == "region_name":
            return place.region
        if kind == "timezone":
            return place.timezone
        if kind == "airport":
            return place.airport
        if kind == "location":
            return f"{place.city}, {place.country}"
        if kind == "currency":
            return place.currency
        if kind == "language":
            return place.language
        raise ValueError(f"not a place kind: {kind}")

    def _email(self, ctx: RowContext) -> str:
        first, last = ctx.person
        domain = data.EMAIL_DOMAINS[ctx.rng.randrange(len(data.EMAIL_DOMAINS))]
        if self.table_words & COMPANY_WORDS:
            return f"contact@{_ascii(ctx.company.split()[0])}.example.com"
        return f"{_ascii(first)}.{_ascii(last)}@{domain}"


_PLACE_KINDS = {"city", "country", "country_code", "postal", "address", "region_name", "timezone", "airport",
                "location", "currency", "language"}
