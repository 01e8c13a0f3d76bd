#!/usr/bin/env python3
"""Writes classify_fixture.json: labelled columns for the classification test.

Deterministic (fixed seed, no clock): rerun after editing and commit both files.
Each column: table, name, type, expected (a built-in detector id or null), why, values.
Values are synthetic but real-looking: card numbers carry valid Luhn digits and issuer
prefixes, IBANs valid check digits, NIRs and DNIs valid keys. Decoys imitate the traps of
real schemas: Luhn-valid order numbers, version strings shaped like IPs, timestamps, ids.
"""
import hashlib
import json
import os
import random
import string
import uuid

R = random.Random(20250601)
N = 60  # values per column

FIRST = ["James", "Mary", "John", "Anna", "Thomas", "Laura", "Michael", "Sophie", "David",
         "Emma", "Peter", "Julia", "Lukas", "Marie", "Carlos", "Lucia", "Pierre", "Camille",
         "Giulia", "Marco", "Sarah", "Daniel", "Elena", "Jan", "Ingrid", "Omar", "Fatima",
         "Kevin", "Hannah", "Felix", "Wolfgang", "Sabine", "Jose", "Isabel", "Noah", "Olivia",
         "Aoife", "Siobhan", "Bjorn", "Kasia", "Thandiwe", "Priya"]  # the last few are rarer
LAST = ["Smith", "Johnson", "Müller", "Schmidt", "Garcia", "Martinez", "Rossi", "Bianchi",
        "Dubois", "Lefebvre", "Jansen", "de Vries", "O'Brien", "Kowalski", "Nowak", "Brown",
        "Fischer", "Weber", "Moreau", "Lopez", "Hernandez", "Andersson", "Nilsen", "Wagner",
        "Becker", "Hoffmann", "Taylor", "Wilson", "Romano", "Ricci", "Fernandez", "Bauer"]
CITIES = ["Paris", "London", "Berlin", "Madrid", "Rome", "Vienna", "Lisbon", "Dublin",
          "Prague", "Warsaw", "Amsterdam", "Brussels", "Munich", "Hamburg", "Lyon", "Milan",
          "Seville", "Porto", "Zurich", "Geneva", "Oslo", "Stockholm", "Helsinki", "Copenhagen",
          "Austin", "Boston", "Chicago", "Denver", "Seattle", "Portland"]
COUNTRIES = ["Germany", "France", "Spain", "Italy", "Austria", "Portugal", "Ireland",
             "Poland", "Netherlands", "Belgium", "Switzerland", "Norway", "Sweden", "Finland",
             "Denmark", "United States", "Canada", "Mexico", "Brazil", "Japan"]
STREETS_EN = ["Main", "Oak", "Maple", "Cedar", "Elm", "Washington", "Lake", "Hill", "Park",
              "Pine", "Sunset", "Baker", "King", "Queen", "Church", "Station"]
ST_TYPES = ["Street", "St", "Avenue", "Ave", "Road", "Rd", "Lane", "Drive", "Blvd", "Way",
            "Court", "Place"]
STREETS_DE = ["Haupt", "Bahnhof", "Garten", "Schul", "Berg", "Linden", "Kirch", "Wald",
              "Ring", "Sonnen", "Goethe", "Schiller"]
DE_TYPES = ["straße", "strasse", "weg", "allee", "platz", "gasse"]
STREETS_FR = ["de la Paix", "Victor Hugo", "du Moulin", "de la République", "Pasteur",
              "Jean Jaurès", "des Lilas", "de l'Église"]
STREETS_ES = ["Mayor", "Real", "del Sol", "de Alcalá", "Gran Vía", "de la Constitución"]
DOMAINS = ["example.com", "example.org", "mail.example.net", "example.co.uk", "example.de",
           "example.fr", "corp.example.io"]


def pick(xs):
    return R.choice(xs)


def digits(n):
    return "".join(R.choice(string.digits) for _ in range(n))


def luhn_digit(body):
    total = 0
    for i, c in enumerate(reversed(body)):
        d = int(c)
        if i % 2 == 0:
            d *= 2
            d = d - 9 if d > 9 else d
        total += d
    return str((10 - total % 10) % 10)


def luhn_number(prefix, length):
    body = prefix + digits(length - len(prefix) - 1)
    return body + luhn_digit(body)


def group(s, sizes, sep=" "):
    out, i = [], 0
    for k in sizes:
        out.append(s[i:i + k])
        i += k
    return sep.join(out)


def card():
    brand = R.randrange(6)
    if brand == 0:
        n = luhn_number("4", 16)
    elif brand == 1:
        n = luhn_number(str(R.randint(51, 55)), 16)
    elif brand == 2:
        n = luhn_number(str(R.randint(2221, 2720)), 16)
    elif brand == 3:
        return luhn_number(pick(["34", "37"]), 15)
    elif brand == 4:
        n = luhn_number(pick(["6011", "65"]), 16)
    else:
        n = luhn_number(str(R.randint(3528, 3589)), 16)
    return n


def card_spaced():
    n = card()
    sizes = [4, 6, 5] if len(n) == 15 else [4, 4, 4, 4]
    return group(n, sizes, pick([" ", "-"]))


def person_first():
    return pick(FIRST)


def full_name():
    return f"{pick(FIRST)} {pick(LAST)}"


def email():
    f, l = pick(FIRST).lower(), pick(LAST).lower().replace(" ", "").replace("'", "")
    l = l.replace("ü", "ue")
    local = pick([f"{f}.{l}", f"{f[0]}{l}", f"{f}{R.randint(1, 99)}", f"{f}.{l}+news",
                  f"{l}_{f}"])
    return f"{local}@{pick(DOMAINS)}"


def phone_us():
    a, b, c = R.randint(201, 989), R.randint(200, 999), digits(4)
    return pick([f"({a}) {b}-{c}", f"{a}-{b}-{c}", f"+1 {a} {b} {c}", f"{a}.{b}.{c}"])


def phone_de():
    return pick([f"+49 {R.randint(151, 179)} {digits(8)}", f"030 {digits(8)}",
                 f"0{R.randint(151, 179)}/{digits(7)}", f"+49 89 {digits(7)}"])


def phone_uk():
    return pick([f"+44 20 {digits(4)} {digits(4)}", f"020 {digits(4)} {digits(4)}",
                 f"07{digits(3)} {digits(6)}", f"+44 7{digits(3)} {digits(6)}"])


def phone_intl():
    return pick([phone_us(), phone_de(), phone_uk(),
                 f"+33 {R.randint(1, 9)} {digits(2)} {digits(2)} {digits(2)} {digits(2)}",
                 f"+34 {R.randint(600, 699)} {digits(3)} {digits(3)}"])


def ssn_parts():
    while True:
        a = R.randint(1, 899)
        if a != 666:
            return f"{a:03d}", f"{R.randint(1, 99):02d}", f"{R.randint(1, 9999):04d}"


def ssn():
    return "-".join(ssn_parts())


NINO_FIRST = "ABCEGHJKLMNOPRSTWXYZ"
NINO_SECOND = "ABCEGHJKLMNPRSTWXYZ"


def nino():
    while True:
        p = pick(NINO_FIRST) + pick(NINO_SECOND)
        if p not in ("BG", "GB", "KN", "NK", "NT", "TN", "ZZ"):
            break
    d = digits(6)
    return pick([f"{p}{d}{pick('ABCD')}", f"{p} {d[:2]} {d[2:4]} {d[4:]} {pick('ABCD')}"])


def nir():
    body = (f"{R.randint(1, 2)}{R.randint(30, 99):02d}{R.randint(1, 12):02d}"
            f"{R.randint(1, 95):02d}{R.randint(1, 999):03d}{R.randint(1, 999):03d}")
    key = 97 - int(body) % 97
    s = body + f"{key:02d}"
    return pick([s, group(s, [1, 2, 2, 2, 3, 3, 2])])


def dni():
    n = R.randint(10000000, 99999999)
    return f"{n}{'TRWAGMYFPDXBNJZSQVHLCKE'[n % 23]}"


def rvnr():
    return (f"{R.randint(10, 89)} {R.randint(1, 28):02d}{R.randint(1, 12):02d}"
            f"{R.randint(40, 99):02d} {pick(string.ascii_uppercase)} {digits(3)}")


def ipv4():
    return ".".join(str(x) for x in [R.randint(1, 223), R.randint(0, 255), R.randint(0, 255),
                                      R.randint(1, 254)])


def ipv6():
    return "2001:db8:" + ":".join(f"{R.randint(0, 65535):x}" for _ in range(6))


IBAN_BBAN = {"DE": lambda: digits(18), "FR": lambda: digits(10) + "".join(
    R.choice(string.ascii_uppercase + string.digits) for _ in range(11)) + digits(2),
    "GB": lambda: "".join(R.choice(string.ascii_uppercase) for _ in range(4)) + digits(14),
    "NL": lambda: "".join(R.choice(string.ascii_uppercase) for _ in range(4)) + digits(10),
    "ES": lambda: digits(20), "IT": lambda: R.choice(string.ascii_uppercase) + digits(22),
    "AT": lambda: digits(16), "BE": lambda: digits(12)}


def iban(valid=True):
    cc = pick(list(IBAN_BBAN))
    bban = IBAN_BBAN[cc]()
    rearranged = bban + cc + "00"
    num = int("".join(str(int(c, 36)) for c in rearranged))
    check = 98 - num % 97
    if not valid:
        check = (check + R.randint(1, 50)) % 97 + 2
    s = f"{cc}{check:02d}{bban}"
    return pick([s, " ".join(s[i:i + 4] for i in range(0, len(s), 4))])


def birth_date():
    y, m, d = R.randint(1935, 2012), R.randint(1, 12), R.randint(1, 28)
    return y, m, d


def address_us():
    return (f"{R.randint(1, 9999)} {pick(STREETS_EN)} {pick(ST_TYPES)}"
            + pick(["", f", {pick(CITIES)}", f", Apt {R.randint(1, 40)}"]))


def address_de():
    return (f"{pick(STREETS_DE)}{pick(DE_TYPES)} {R.randint(1, 180)}"
            + pick(["", f", {R.randint(10000, 99999)} {pick(CITIES)}"]))


def address_fr():
    return (f"{R.randint(1, 120)}{pick(['', ' bis'])} rue {pick(STREETS_FR)}"
            + pick(["", f", {R.randint(10000, 95999)} {pick(CITIES)}"]))


def address_es():
    return f"Calle {pick(STREETS_ES)} {R.randint(1, 200)}" + pick(["", f", {pick(CITIES)}"])


def timestamp():
    return (f"{R.randint(2019, 2025)}-{R.randint(1, 12):02d}-{R.randint(1, 28):02d}"
            f"T{R.randint(0, 23):02d}:{R.randint(0, 59):02d}:{R.randint(0, 59):02d}Z")


def iso_date():
    return f"{R.randint(2015, 2025)}-{R.randint(1, 12):02d}-{R.randint(1, 28):02d}"


COMMENTS = ["Customer asked for faster delivery", "Box arrived damaged, replacement sent",
            "Great product, would buy again", "Refund processed after 3 days",
            "Please call before delivery", "Left at the front door", "Wrong size, exchanged",
            "Gift wrap requested", "Delivered 2 days late", "Invoice sent by post",
            "Item out of stock, backordered", "Customer prefers morning slots"]
PRODUCTS = ["Ultra Widget", "Smart Lamp Pro", "Trail Runner 2", "Coffee Grinder",
            "Desk Organizer", "Noise Cancelling Headphones", "Yoga Mat", "Water Bottle",
            "Bluetooth Speaker", "Standing Desk", "Office Chair", "Travel Backpack"]
COMPANIES = ["Acme GmbH", "Globex Corporation", "Initech Ltd", "Umbrella SA", "Stark Industries",
             "Wayne Enterprises", "Hooli Inc", "Soylent BV", "Vandelay Imports", "Tyrell Corp"]
TITLES = ["Senior Data Engineer", "Account Manager", "Sales Director", "Product Owner",
          "Support Specialist", "Chief Financial Officer", "Marketing Lead", "Office Manager"]


def col(table, name, expected, why, gen, type_name="varchar", n=N):
    return {"table": table, "name": name, "type": type_name, "expected": expected, "why": why,
            "values": [gen() for _ in range(n)]}


def positives():
    return [
        col("customers", "customer_email", "email", "name and values", email),
        col("contacts", "EmailAddress", "email", "camelCase name", email),
        col("leads", "e_mail", "email", "split e-mail", email),
        col("newsletter", "mail", "email", "short name", email),
        col("crm_import", "contact", "email", "values alone (weak name)", email),
        col("kunden", "kundenEmail", "email", "German compound", email),
        col("customers", "phone_number", "phone", "US formats", phone_us),
        col("kunden", "mobile", "phone", "German mobile numbers", phone_de),
        col("kunden", "telefon", "phone", "German name", phone_de),
        col("uk_customers", "tel", "phone", "UK formats", phone_uk),
        col("partners", "contact_no", "phone", "international formats", phone_intl),
        col("payments", "card_number", "creditCard", "grouped PANs", card_spaced),
        col("payments", "cc_num", "creditCard", "plain PANs", card),
        col("transactions", "payment_pan", "creditCard", "pan token", card),
        col("zahlungen", "kreditkartennummer", "creditCard", "German compound", card_spaced),
        col("wallet", "card", "creditCard", "weak name, valid PANs", card),
        col("staging", "col_a", "creditCard", "values alone", card),
        col("employees", "ssn", "nationalId", "US SSNs", ssn),
        col("uk_staff", "national_insurance_number", "nationalId", "UK NINOs", nino),
        col("salaries_fr", "numero_securite_sociale", "nationalId", "French NIRs", nir),
        col("empleados", "dni", "nationalId", "Spanish DNIs", dni),
        col("mitarbeiter", "sozialversicherungsnummer", "nationalId",
            "German RV numbers (shape only, name decides)", rvnr),
        col("contractors", "tax_id", "nationalId", "SSNs without dashes",
            lambda: "".join(ssn_parts())),
        col("staging", "col_b", "nationalId", "dashed SSNs, values alone", ssn),
        col("logins", "client_ip", "ipAddress", "IPv4", ipv4),
        col("requests", "remote_addr", "ipAddress", "IPv4/IPv6 with ports",
            lambda: pick([ipv4(), ipv6(), f"{ipv4()}:{R.randint(1024, 65535)}"])),
        col("sessions", "last_login_ip", "ipAddress", "IPv4", ipv4),
        col("proxy_log", "x_forwarded_for", "ipAddress", "forwarded-for", ipv4),
        col("firewall_events", "source", "ipAddress", "weak name", lambda: pick([ipv4(), ipv6()])),
        col("accounts", "iban", "iban", "IBANs", iban),
        col("suppliers", "bank_account", "iban", "bank account IBANs", iban),
        col("payouts", "payout_account", "iban", "weak name", iban),
        col("lieferanten", "bankverbindung", "iban", "German name", iban),
        col("customers", "first_name", "personName", "first names", person_first),
        col("customers", "last_name", "personName", "surnames only", lambda: pick(LAST)),
        col("users", "full_name", "personName", "full names", full_name),
        col("kunden", "vorname", "personName", "German name", person_first),
        col("orders", "customer_name", "personName", "full names", full_name),
        col("books", "author", "personName", "weak name, full names", full_name),
        col("payments", "cardholder_name", "personName", "cardholder", full_name),
        col("clientes", "nombre", "personName", "Spanish name", person_first),
        col("patients", "dob", "dateOfBirth", "ISO dates",
            lambda: "%04d-%02d-%02d" % birth_date()),
        col("members", "date_of_birth", "dateOfBirth", "ISO dates",
            lambda: "%04d-%02d-%02d" % birth_date()),
        col("us_members", "birthday", "dateOfBirth", "US dates",
            lambda: (lambda y, m, d: f"{m:02d}/{d:02d}/{y}")(*birth_date())),
        col("kunden", "geburtsdatum", "dateOfBirth", "German dates",
            lambda: (lambda y, m, d: f"{d:02d}.{m:02d}.{y}")(*birth_date())),
        col("clientes", "fecha_nacimiento", "dateOfBirth", "Spanish dates",
            lambda: (lambda y, m, d: f"{d:02d}/{m:02d}/{y}")(*birth_date())),
        col("people", "BirthDate", "dateOfBirth", "midnight timestamps",
            lambda: "%04d-%02d-%02dT00:00:00Z" % birth_date(), "timestamp"),
        col("customers", "address", "postalAddress", "US street addresses", address_us),
        col("accounts", "street_address", "postalAddress", "US", address_us),
        col("orders", "shipping_address_line1", "postalAddress", "US", address_us),
        col("kunden", "anschrift", "postalAddress", "German addresses", address_de),
        col("clients_fr", "adresse", "postalAddress", "French addresses", address_fr),
        col("clientes", "direccion", "postalAddress", "Spanish addresses", address_es),
        # Harder positives: weaker names, unformatted values, rarer first names.
        col("employees", "name", "personName", "weak name, some rare first names", full_name),
        col("accounts", "owner", "personName", "weak name", full_name),
        col("bookings", "guest_name", "personName", "phrase-less name", full_name),
        col("clients_fr", "nom", "personName", "upper-case surnames", lambda: pick(LAST).upper()),
        col("customers", "home_phone", "phone", "unformatted digits, name decides",
            lambda: f"{R.randint(201, 989)}{R.randint(200, 999)}{digits(4)}"),
        col("subscribers", "msisdn", "phone", "E.164 without plus", lambda: f"49{R.randint(151, 179)}{digits(8)}"),
        col("clientes", "telefono", "phone", "Spanish mobiles", lambda: f"+34 {R.randint(600, 699)} {digits(3)} {digits(3)}"),
        col("emails", "cc", "email", "carbon-copy addresses", email),
        col("audit_log", "ip", "ipAddress", "IPv6 only", ipv6),
        col("firewall_rules", "ip_range", "ipAddress", "CIDR blocks", lambda: f"{ipv4()}/{R.randint(8, 32)}"),
        col("travellers", "passport_number", "nationalId", "passport numbers, name decides",
            lambda: pick(string.ascii_uppercase) + digits(2) + pick(string.ascii_uppercase) + digits(5)),
    ]


def decoys():
    seq = iter(range(1, 10 ** 6))
    return [
        col("orders", "order_number", None, "Luhn-valid, card-like prefixes, order name",
            lambda: luhn_number(pick(["4", "5", "9", "7"]), 16)),
        col("production", "batch_no", None, "Luhn-valid, no issuer prefix",
            lambda: luhn_number(pick(["7", "8", "9", "0"]), 16)),
        col("devices", "imei", None, "15-digit Luhn IMEIs", lambda: luhn_number("35", 15)),
        col("apps", "app_version", None, "IPv4-shaped versions",
            lambda: f"{R.randint(1, 9)}.{R.randint(0, 20)}.{R.randint(0, 9)}.{R.randint(0, 99)}"),
        col("devices", "firmware_version", None, "IPv4-shaped versions",
            lambda: f"{R.randint(1, 5)}.{R.randint(0, 9)}.{R.randint(0, 9)}.{R.randint(0, 9)}"),
        col("products", "product_code", None, "product codes",
            lambda: f"{pick(string.ascii_uppercase)}{pick(string.ascii_uppercase)}-{digits(4)}-{pick('XYZ')}"),
        col("orders", "created_at", None, "recent timestamps", timestamp, "timestamp"),
        col("orders", "updated_on", None, "recent dates", iso_date, "date"),
        col("events", "event_date", None, "dates without birth hint",
            lambda: "%04d-%02d-%02d" % birth_date(), "date"),
        col("stores", "city", None, "capitalised city names", lambda: pick(CITIES)),
        col("stores", "country", None, "country names", lambda: pick(COUNTRIES)),
        col("order_items", "quantity", None, "zip-like integers",
            lambda: str(R.randint(10000, 99999)), "integer"),
        col("orders", "id", None, "sequential ids", lambda: str(next(seq)), "bigint"),
        col("orders", "user_id", None, "7-digit ids", lambda: str(R.randint(10 ** 6, 10 ** 7 - 1)),
            "bigint"),
        col("orders", "order_id", None, "10-digit ids shaped like phone numbers",
            lambda: str(R.randint(2 * 10 ** 9, 9 * 10 ** 9)), "bigint"),
        col("orders", "comments", None, "free text, a few with e-mails",
            lambda: pick(COMMENTS) if R.random() > 0.05 else f"Contact {email()} for details"),
        col("users", "password_hash", None, "sha256 hex",
            lambda: hashlib.sha256(digits(12).encode()).hexdigest()),
        col("users", "email_hash", None, "md5 of e-mails",
            lambda: hashlib.md5(email().encode()).hexdigest()),
        col("sessions", "session_id", None, "UUIDs", lambda: str(uuid.UUID(int=R.getrandbits(128)))),
        col("products", "sku", None, "phone-shaped SKUs",
            lambda: f"{R.randint(200, 999)}-{R.randint(100, 999)}-{digits(4)}"),
        col("products", "price", None, "decimals", lambda: f"{R.randint(1, 99999)}.{digits(2)}",
            "numeric"),
        col("orders", "status", None, "enum", lambda: pick(["new", "paid", "shipped", "returned"])),
        col("products", "name", None, "product names in a products table", lambda: pick(PRODUCTS)),
        col("suppliers", "company_name", None, "company names", lambda: pick(COMPANIES)),
        col("users", "username", None, "handles",
            lambda: f"{pick(FIRST).lower()[:4]}{pick(LAST).lower()[:3]}{R.randint(1, 99)}"),
        col("companies", "website", None, "URLs", lambda: f"https://www.{pick(DOMAINS)}/{digits(3)}"),
        col("devices", "mac_address", None, "MAC addresses",
            lambda: ":".join(f"{R.randint(0, 255):02x}" for _ in range(6))),
        col("books", "isbn", None, "ISBN-13", lambda: f"978-{R.randint(0, 9)}-{digits(2)}-{digits(6)}-{R.randint(0, 9)}"),
        col("shipments", "tracking_number", None, "carrier tracking ids",
            lambda: "1Z" + "".join(R.choice(string.ascii_uppercase + string.digits) for _ in range(16))),
        col("stores", "latitude", None, "coordinates", lambda: f"{R.uniform(35, 60):.6f}", "double"),
        col("customers", "birth_year", None, "years, not dates", lambda: str(R.randint(1940, 2005)),
            "integer"),
        col("users", "email_verified", None, "flags", lambda: pick(["yes", "no"])),
        col("payments", "card_type", None, "card brands",
            lambda: pick(["Visa", "Mastercard", "Amex", "Discover"])),
        col("logs", "error_code", None, "codes", lambda: f"E{R.randint(1000, 9999)}"),
        col("inventory", "part_number", None, "SSN-shaped part numbers", ssn),
        col("ledger", "account_number", None, "10-digit account numbers", lambda: digits(10)),
        col("payments", "payment_reference", None, "IBAN-shaped, bad check digits",
            lambda: iban(valid=False)),
        col("themes", "hex_color", None, "colours", lambda: "#%06x" % R.getrandbits(24)),
        col("prices", "currency", None, "ISO currencies", lambda: pick(["EUR", "USD", "GBP", "CHF"])),
        col("users", "locale", None, "locales", lambda: pick(["en-US", "de-DE", "fr-FR", "es-ES"])),
        col("staff", "job_title", None, "capitalised titles", lambda: pick(TITLES)),
        col("customers", "postal_code", None, "postal codes alone", lambda: digits(5)),
        col("devices", "os_build", None, "dotted build numbers",
            lambda: f"10.0.{R.randint(10000, 22631)}.{R.randint(1, 4000)}"),
        col("users", "timezone", None, "time zones",
            lambda: pick(["Europe/Berlin", "Europe/Paris", "America/New_York", "Asia/Tokyo"])),
        col("requests", "user_agent", None, "browser strings",
            lambda: f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/{R.randint(100, 125)}.0"),
        col("users", "phone_verified", None, "flags", lambda: pick(["true", "false"])),
        col("products", "dimensions", None, "sizes", lambda: f"{R.randint(10, 200)} x {R.randint(10, 200)} x {R.randint(5, 90)} cm"),
        col("products", "barcode", None, "EAN-13", lambda: "40" + digits(11)),
        col("banks", "bank_name", None, "bank names",
            lambda: pick(["Deutsche Bank", "Commerzbank", "Banco Santander", "BNP Paribas"])),
        col("campaigns", "contact_channel", None, "channel enum", lambda: pick(["email", "phone", "sms"])),
        col("employees", "ssn_last4", None, "last four digits only", lambda: digits(4)),
        col("products", "description", None, "free text",
            lambda: f"{pick(PRODUCTS)} with {R.randint(2, 5)} way adjustable {pick(['stand', 'strap', 'lid'])}"),
        col("orders", "shipping_city", None, "cities", lambda: pick(CITIES)),
        col("staff", "employee_number", None, "6-digit numbers", lambda: digits(6)),
        col("payments", "card_expiry", None, "MM/YY", lambda: f"{R.randint(1, 12):02d}/{R.randint(25, 32)}"),
        col("logins", "geo_ip_country", None, "country codes", lambda: pick(["DE", "FR", "US", "ES"])),
        col("users", "created_by", None, "handles", lambda: f"{pick(FIRST).lower()}{R.randint(1, 9)}"),
        col("sessions", "referrer", None, "URLs", lambda: f"https://{pick(DOMAINS)}/p/{digits(4)}"),
        col("promotions", "coupon_code", None, "codes", lambda: "SAVE" + digits(2) + pick(string.ascii_uppercase)),
        col("accounts", "iban_masked", None, "masked IBANs", lambda: "DE89 **** **** **** " + digits(4)),
        col("members", "birth_place", None, "cities", lambda: pick(CITIES)),
        col("members", "age", None, "ages", lambda: str(R.randint(18, 90)), "integer"),
        col("members", "gender", None, "enum", lambda: pick(["female", "male", "diverse"])),
        col("sensors", "duration", None, "durations",
            lambda: f"{R.randint(0, 23):02d}:{R.randint(0, 59):02d}:{R.randint(0, 59):02d}"),
    ]


def main():
    cols = positives() + decoys()
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "classify_fixture.json"), "w", encoding="utf-8") as f:
        json.dump({"columns": cols}, f, ensure_ascii=False, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
