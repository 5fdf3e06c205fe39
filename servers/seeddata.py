"""The vocabulary seed rows are drawn from: places whose city, country, currency, dialling code,
airport and postal format agree, people, companies, products and the phrases free text is built of.

Plain data, no randomness: `servers.seedvalues` picks from it with the generator's own
`random.Random`, so the same spec and seed give the same rows on every machine.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Place:
    city: str
    region: str
    country: str
    country_code: str
    currency: str
    dialling_code: str
    airport: str
    timezone: str
    # Postal code shape: '9' is a digit, 'A' an upper-case letter, anything else is kept.
    postal_format: str
    language: str


PLACES: tuple[Place, ...] = (
    Place("Lisbon", "Lisboa", "Portugal", "PT", "EUR", "351", "LIS", "Europe/Lisbon", "9999-999", "pt-PT"),
    Place("Porto", "Porto", "Portugal", "PT", "EUR", "351", "OPO", "Europe/Lisbon", "9999-999", "pt-PT"),
    Place("Berlin", "Berlin", "Germany", "DE", "EUR", "49", "BER", "Europe/Berlin", "99999", "de-DE"),
    Place("Munich", "Bavaria", "Germany", "DE", "EUR", "49", "MUC", "Europe/Berlin", "99999", "de-DE"),
    Place("Toronto", "Ontario", "Canada", "CA", "CAD", "1", "YYZ", "America/Toronto", "A9A 9A9", "en-CA"),
    Place("Vancouver", "British Columbia", "Canada", "CA", "CAD", "1", "YVR", "America/Vancouver", "A9A 9A9",
          "en-CA"),
    Place("Osaka", "Osaka", "Japan", "JP", "JPY", "81", "KIX", "Asia/Tokyo", "999-9999", "ja-JP"),
    Place("Tokyo", "Tokyo", "Japan", "JP", "JPY", "81", "HND", "Asia/Tokyo", "999-9999", "ja-JP"),
    Place("Austin", "Texas", "United States", "US", "USD", "1", "AUS", "America/Chicago", "99999", "en-US"),
    Place("Seattle", "Washington", "United States", "US", "USD", "1", "SEA", "America/Los_Angeles", "99999",
          "en-US"),
    Place("Denver", "Colorado", "United States", "US", "USD", "1", "DEN", "America/Denver", "99999", "en-US"),
    Place("Boston", "Massachusetts", "United States", "US", "USD", "1", "BOS", "America/New_York", "99999",
          "en-US"),
    Place("Chicago", "Illinois", "United States", "US", "USD", "1", "ORD", "America/Chicago", "99999", "en-US"),
    Place("Lyon", "Auvergne-Rhône-Alpes", "France", "FR", "EUR", "33", "LYS", "Europe/Paris", "99999", "fr-FR"),
    Place("Paris", "Île-de-France", "France", "FR", "EUR", "33", "CDG", "Europe/Paris", "99999", "fr-FR"),
    Place("Nairobi", "Nairobi County", "Kenya", "KE", "KES", "254", "NBO", "Africa/Nairobi", "99999", "en-KE"),
    Place("Melbourne", "Victoria", "Australia", "AU", "AUD", "61", "MEL", "Australia/Melbourne", "9999", "en-AU"),
    Place("Sydney", "New South Wales", "Australia", "AU", "AUD", "61", "SYD", "Australia/Sydney", "9999", "en-AU"),
    Place("Madrid", "Community of Madrid", "Spain", "ES", "EUR", "34", "MAD", "Europe/Madrid", "99999", "es-ES"),
    Place("Barcelona", "Catalonia", "Spain", "ES", "EUR", "34", "BCN", "Europe/Madrid", "99999", "es-ES"),
    Place("Oslo", "Oslo", "Norway", "NO", "NOK", "47", "OSL", "Europe/Oslo", "9999", "nb-NO"),
    Place("Pune", "Maharashtra", "India", "IN", "INR", "91", "PNQ", "Asia/Kolkata", "999999", "en-IN"),
    Place("Bengaluru", "Karnataka", "India", "IN", "INR", "91", "BLR", "Asia/Kolkata", "999999", "en-IN"),
    Place("Krakow", "Lesser Poland", "Poland", "PL", "PLN", "48", "KRK", "Europe/Warsaw", "99-999", "pl-PL"),
    Place("Dublin", "Leinster", "Ireland", "IE", "EUR", "353", "DUB", "Europe/Dublin", "A99 A9A9", "en-IE"),
    Place("Bogotá", "Cundinamarca", "Colombia", "CO", "COP", "57", "BOG", "America/Bogota", "999999", "es-CO"),
    Place("London", "England", "United Kingdom", "GB", "GBP", "44", "LHR", "Europe/London", "AA9 9AA", "en-GB"),
    Place("Manchester", "England", "United Kingdom", "GB", "GBP", "44", "MAN", "Europe/London", "A99 9AA", "en-GB"),
    Place("Amsterdam", "North Holland", "Netherlands", "NL", "EUR", "31", "AMS", "Europe/Amsterdam", "9999 AA",
          "nl-NL"),
    Place("Stockholm", "Stockholm County", "Sweden", "SE", "SEK", "46", "ARN", "Europe/Stockholm", "999 99",
          "sv-SE"),
    Place("Singapore", "Central Region", "Singapore", "SG", "SGD", "65", "SIN", "Asia/Singapore", "999999", "en-SG"),
    Place("Mexico City", "Mexico City", "Mexico", "MX", "MXN", "52", "MEX", "America/Mexico_City", "99999",
          "es-MX"),
    Place("São Paulo", "São Paulo", "Brazil", "BR", "BRL", "55", "GRU", "America/Sao_Paulo", "99999-999",
          "pt-BR"),
    Place("Cape Town", "Western Cape", "South Africa", "ZA", "ZAR", "27", "CPT", "Africa/Johannesburg", "9999",
          "en-ZA"),
    Place("Seoul", "Seoul", "South Korea", "KR", "KRW", "82", "ICN", "Asia/Seoul", "99999", "ko-KR"),
    Place("Zurich", "Zurich", "Switzerland", "CH", "CHF", "41", "ZRH", "Europe/Zurich", "9999", "de-CH"),
)

CITY_COUNTRY: dict[str, str] = {p.city: p.country for p in PLACES}
COUNTRY_CODES: dict[str, str] = {p.country: p.country_code for p in PLACES}

FIRST_NAMES = (
    "Ava", "Liam", "Maya", "Noah", "Zoe", "Ethan", "Iris", "Lucas", "Nora", "Omar", "Priya", "Mateo",
    "Hana", "Felix", "Sofia", "Kenji", "Amara", "Jonas", "Leila", "Diego", "Chloe", "Ravi", "Elena",
    "Tariq", "Grace", "Yusuf", "Mila", "Aaron", "Ingrid", "Kofi", "Beatriz", "Hugo", "Anika", "Samuel",
    "Lina", "Marcus", "Yara", "Oscar", "Freya", "Daniel", "Aisha", "Tomás", "Julia", "Arjun", "Clara",
    "Malik", "Sara", "Emil", "Nadia", "Victor", "Rosa", "Ibrahim", "Lea", "Pablo", "Mei", "Henrik",
    "Fatima", "Caleb", "Alina", "Jorge",
)
LAST_NAMES = (
    "Nguyen", "Smith", "Garcia", "Okafor", "Müller", "Rossi", "Kowalski", "Tanaka", "Silva", "Haddad",
    "Johansson", "Patel", "Dubois", "Kim", "Novak", "Fischer", "Moreau", "Chen", "Alvarez", "Brown",
    "Ivanova", "Murphy", "Larsen", "Costa", "Schmidt", "Mensah", "O'Brien", "Hernández", "Lindqvist",
    "Sato", "Walker", "Bianchi", "Yilmaz", "Andersen", "Kaur", "Reyes", "Petrov", "Dias", "Wright",
    "Nakamura", "Hoffmann", "Santos", "Byrne", "Lopez", "Ahmed", "Jensen", "Martin", "Park", "Torres",
    "Weber",
)
STREETS = (
    "Oak Street", "Maple Avenue", "Harbor Road", "King's Way", "Elm Court", "Station Lane", "Riverside Drive",
    "Hill Street", "Market Square", "Cedar Boulevard", "Park Terrace", "Mill Lane", "Church Road",
    "Victoria Street", "Lakeview Drive", "Orchard Close", "Bridge Street", "Sunset Avenue", "Garden Row",
    "Quay Street",
)
COMPANY_STEMS = (
    "Northwind", "Bluepeak", "Lumen", "Cobalt", "Greenfield", "Orbit", "Silverline", "Redwood", "Atlas",
    "Brightwater", "Ironbridge", "Summit", "Harborview", "Keystone", "Meridian", "Pinecrest", "Starling",
    "Tidewater", "Westbrook", "Zenith", "Granite", "Juniper", "Falcon", "Aurora",
)
COMPANY_SUFFIXES = (
    "Labs", "Logistics", "Supply", "Systems", "Partners", "Works", "Foods", "Health", "Media", "Energy",
    "Analytics", "Outfitters", "Freight", "Studios", "Holdings", "Retail",
)
PRODUCT_ADJECTIVES = (
    "Compact", "Wireless", "Ergonomic", "Classic", "Foldable", "Smart", "Ceramic", "Waterproof", "Portable",
    "Deluxe", "Bamboo", "Stainless", "Insulated", "Rechargeable", "Lightweight", "Modular",
)
PRODUCT_NOUNS = (
    "Desk Lamp", "Headphones", "Office Chair", "Backpack", "Kettle", "Monitor Stand", "Water Bottle",
    "Keyboard", "Blender", "Umbrella", "Notebook", "Speaker", "Coffee Grinder", "Yoga Mat", "Travel Mug",
    "Phone Case", "Cutting Board", "Running Shoes", "Air Purifier", "Camera Bag",
)
# Resource names of technical APIs (projects, buckets, pipelines) look like two joined words.
NAME_ADJECTIVES = (
    "amber", "brisk", "cedar", "coastal", "crimson", "dusty", "eastern", "golden", "hidden", "ivory",
    "lunar", "misty", "nimble", "northern", "quiet", "rapid", "silver", "solar", "steady", "swift",
    "velvet", "wild", "winter", "young",
)
NAME_NOUNS = (
    "harbor", "falcon", "meadow", "river", "summit", "canyon", "forest", "lantern", "orchard", "beacon",
    "comet", "delta", "glacier", "heron", "island", "juniper", "maple", "nebula", "otter", "prairie",
    "ridge", "sparrow", "tundra", "willow",
)
TOPICS = (
    "quarterly sales", "customer onboarding", "inventory audit", "data migration", "security review",
    "marketing launch", "budget planning", "vendor renewal", "product roadmap", "support backlog",
    "website redesign", "payroll run", "compliance check", "team offsite", "release readiness",
    "capacity planning", "supplier contract", "billing cleanup",
)
# Whole sentences for notes, comments, messages and descriptions: real content, never a counter.
SENTENCES = (
    "Please leave the package with the front desk.",
    "Customer asked for a callback after 5 pm.",
    "Follow up with the vendor about the delayed shipment.",
    "Requested a quiet room away from the elevator.",
    "Second reminder sent; no reply yet.",
    "Approved by the regional manager on Monday.",
    "The invoice was split across two cost centres.",
    "Needs a wheelchair-accessible entrance.",
    "Moved up a week at the client's request.",
    "Includes the annual maintenance visit.",
    "Card on file expires next month.",
    "Reported intermittent connection drops in the evening.",
    "Prefers contact by e-mail rather than phone.",
    "Gift wrap requested, no price tags inside.",
    "Weekend delivery is not possible at this address.",
    "Matches the purchase order sent last Thursday.",
    "Allergic to peanuts; kitchen has been informed.",
    "Signed copy of the agreement is attached.",
    "Handled by the night shift; see earlier notes.",
    "Escalated after the third failed attempt.",
    "Arrives on a late flight, around 11 pm.",
    "Waiting for the replacement part from the warehouse.",
    "Discount applied after the loyalty review.",
    "Confirmed by phone with the account holder.",
)
DESCRIPTION_OPENERS = (
    "Tracks", "Covers", "Summarises", "Collects", "Schedules", "Documents", "Coordinates", "Reports on",
)
DESCRIPTION_CLOSERS = (
    "for the operations team.", "across all regions.", "for the next quarter.", "before the audit.",
    "for internal review.", "with weekly updates.", "for the finance team.", "ahead of the launch.",
)
CATEGORIES = ("electronics", "home", "office", "outdoor", "kitchen", "books", "toys", "sports", "garden",
              "beauty")
STATUS_WORDS = ("active", "pending", "completed", "suspended", "archived")
TAGS = ("billing", "urgent", "internal", "customer", "finance", "legal", "marketing", "ops", "security",
        "research", "travel", "hardware")
MIME_TYPES = ("application/json", "application/pdf", "image/png", "image/jpeg", "text/csv", "text/plain")
FILE_STEMS = ("report", "invoice", "summary", "export", "contract", "receipt", "backup", "photo", "notes")
FILE_EXTENSIONS = ("pdf", "csv", "json", "png", "txt", "xlsx")
CLOUD_REGIONS = ("us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-2", "ap-northeast-1",
                 "europe-west4", "us-central1", "asia-east1")
ZONE_SUFFIXES = ("a", "b", "c")
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf")
LANGUAGES = ("en", "de", "fr", "es", "pt", "ja", "nl", "sv", "it", "ko")
EMAIL_DOMAINS = ("example.com", "example.org", "example.net")
JOB_TITLES = ("Account Manager", "Software Engineer", "Nurse Practitioner", "Operations Lead", "Data Analyst",
              "Store Manager", "Product Designer", "Sales Associate", "Travel Agent", "Librarian")
