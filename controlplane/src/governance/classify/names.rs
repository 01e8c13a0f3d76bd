//! Column-name signals. Names are split into lower-case words (`customerEmail`,
//! `customer_email` and `CUSTOMER-EMAIL` all give `customer email`) and matched against hint
//! tables: whole words (`ssn`), word sequences (`date of birth`) and fragments of the joined
//! name for compound words (`kundengeburtsdatum`, `sozialversicherungsnummer`).
use nexbii_crds::BuiltinDetector;

pub(crate) struct NameTokens {
    pub tokens: Vec<String>,
    /// The tokens concatenated, for fragment matching.
    pub joined: String,
}

/// Splits on non-alphanumerics and on case changes (`IPAddress` → `ip address`); digits stay
/// with their word (`ipv4`, `line1`).
pub(crate) fn tokenize(name: &str) -> NameTokens {
    let chars: Vec<char> = name.chars().collect();
    let mut tokens: Vec<String> = Vec::new();
    let mut current = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            flush(&mut tokens, &mut current);
            continue;
        }
        let prev = i.checked_sub(1).map(|p| chars[p]);
        let next = chars.get(i + 1).copied();
        let lower_to_upper = prev.is_some_and(|p| p.is_lowercase()) && c.is_uppercase();
        let acronym_end = prev.is_some_and(|p| p.is_uppercase())
            && c.is_uppercase()
            && next.is_some_and(|n| n.is_lowercase());
        if lower_to_upper || acronym_end {
            flush(&mut tokens, &mut current);
        }
        current.extend(c.to_lowercase());
    }
    flush(&mut tokens, &mut current);
    let joined = tokens.concat();
    NameTokens { tokens, joined }
}

fn flush(tokens: &mut Vec<String>, current: &mut String) {
    if !current.is_empty() {
        tokens.push(std::mem::take(current));
    }
}

/// What a column name says about one detector.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum NameSignal {
    /// The name is about something else (`version`, `order_number`, `email_verified`): values
    /// alone must not classify the column.
    Veto,
    None,
    Weak,
    Strong,
}

struct Hints {
    tokens: &'static [&'static str],
    phrases: &'static [&'static [&'static str]],
    fragments: &'static [&'static str],
}

impl Hints {
    const NONE: Hints = Hints {
        tokens: &[],
        phrases: &[],
        fragments: &[],
    };

    fn matches(&self, n: &NameTokens) -> bool {
        n.tokens.iter().any(|t| self.tokens.contains(&t.as_str()))
            || self.phrases.iter().any(|p| {
                n.tokens
                    .windows(p.len())
                    .any(|w| w.iter().zip(p.iter()).all(|(a, b)| a == b))
            })
            || self.fragments.iter().any(|f| n.joined.contains(f))
    }
}

struct DetectorNames {
    strong: Hints,
    weak: Hints,
    /// Words that make the name about something else (checked on column and table names).
    veto: &'static [&'static str],
}

/// Words saying the column is *about* the data rather than the data itself
/// (`email_verified`, `phone_type`, `birth_year`, `card_last4`).
const MODIFIERS: &[&str] = &[
    "verified",
    "confirmed",
    "valid",
    "validated",
    "opt",
    "optin",
    "optout",
    "consent",
    "subscribed",
    "unsubscribed",
    "bounced",
    "bounce",
    "sent",
    "opened",
    "clicked",
    "count",
    "cnt",
    "total",
    "sum",
    "avg",
    "min",
    "max",
    "flag",
    "enabled",
    "disabled",
    "is",
    "has",
    "hash",
    "hashed",
    "md5",
    "sha1",
    "sha256",
    "digest",
    "token",
    "encrypted",
    "masked",
    "mask",
    "last4",
    "length",
    "len",
    "status",
    "type",
    "kind",
    "domain",
    "provider",
    "country",
    "prefix",
    "ext",
    "extension",
    "format",
    "template",
    "year",
    "month",
    "place",
    "city",
    "created",
    "updated",
    "modified",
    "changed",
    "expiry",
    "expires",
    "expiration",
    "brand",
    "issuer",
    "network",
    "bin",
];

const ID_LIKE: &[&str] = &[
    "id",
    "uuid",
    "guid",
    "sku",
    "code",
    "ref",
    "reference",
    "serial",
    "part",
    "product",
    "order",
    "invoice",
    "quantity",
    "qty",
    "amount",
    "price",
    "version",
    "isbn",
    "ean",
    "upc",
    "gtin",
    "barcode",
    "tracking",
    "shipment",
    "confirmation",
    "booking",
    "ticket",
    "transaction",
    "txn",
    "imei",
    "batch",
    "lot",
];

const EMAIL: DetectorNames = DetectorNames {
    strong: Hints {
        tokens: &[
            "email",
            "emails",
            "mail",
            "emailaddress",
            "mailaddress",
            "courriel",
            "correo",
            "epost",
        ],
        phrases: &[&["e", "mail"]],
        fragments: &["email", "mailadresse", "courriel"],
    },
    weak: Hints::NONE,
    veto: &[],
};

const PHONE: DetectorNames = DetectorNames {
    strong: Hints {
        tokens: &[
            "phone",
            "phones",
            "telephone",
            "tel",
            "mobile",
            "cell",
            "cellphone",
            "fax",
            "msisdn",
            "handy",
            "telefon",
            "telefono",
            "teléfono",
            "telefone",
            "téléphone",
            "portable",
            "movil",
            "móvil",
            "cellulare",
            "gsm",
            "phonenumber",
        ],
        phrases: &[&["contact", "number"], &["mobile", "no"]],
        fragments: &[
            "phone",
            "telefon",
            "telephon",
            "handynummer",
            "rufnummer",
            "mobilnummer",
            "mobilenumber",
        ],
    },
    weak: Hints {
        tokens: &["contact", "dial", "callback"],
        phrases: &[],
        fragments: &[],
    },
    veto: ID_LIKE,
};

const CREDIT_CARD: DetectorNames = DetectorNames {
    strong: Hints {
        tokens: &[
            "pan",
            "ccn",
            "cc",
            "creditcard",
            "cardnumber",
            "ccnum",
            "ccnumber",
            "kreditkarte",
            "kreditkartennummer",
            "kartennummer",
            "tarjeta",
            "carte",
        ],
        phrases: &[
            &["credit", "card"],
            &["card", "number"],
            &["card", "no"],
            &["card", "num"],
            &["card", "nr"],
            &["payment", "card"],
            &["debit", "card"],
        ],
        fragments: &[
            "creditcard",
            "kreditkart",
            "cardnumber",
            "cardnum",
            "kartennummer",
            "numerotarjeta",
        ],
    },
    weak: Hints {
        tokens: &["card", "karte"],
        phrases: &[],
        fragments: &[],
    },
    veto: &[
        "id",
        "uuid",
        "order",
        "invoice",
        "tracking",
        "ref",
        "reference",
        "sku",
        "serial",
        "imei",
        "barcode",
        "ean",
        "upc",
        "isbn",
        "gtin",
        "transaction",
        "txn",
        "shipment",
        "confirmation",
        "booking",
        "ticket",
        "customer",
        "member",
        "loyalty",
        "policy",
        "contract",
        "account",
        "gift",
        "voucher",
    ],
};

const NATIONAL_ID: DetectorNames = DetectorNames {
    strong: Hints {
        tokens: &[
            "ssn",
            "sin",
            "nino",
            "nin",
            "nir",
            "dni",
            "nie",
            "nif",
            "bsn",
            "tin",
            "cpr",
            "pesel",
            "steuerid",
            "svnr",
            "rvnr",
            "personnummer",
            "passport",
            "nationalid",
            "insee",
            "curp",
            "cpf",
            "aadhaar",
            "ahv",
            "codicefiscale",
        ],
        phrases: &[
            &["social", "security"],
            &["national", "id"],
            &["national", "insurance"],
            &["tax", "id"],
            &["national", "identification"],
            &["identity", "number"],
            &["securite", "sociale"],
            &["sécurité", "sociale"],
            &["codice", "fiscale"],
            &["numero", "secu"],
            &["id", "card"],
            &["identity", "card"],
        ],
        fragments: &[
            "sozialversicherung",
            "socialsecurity",
            "nationalid",
            "nationalinsurance",
            "steueridentifikation",
            "securitesociale",
            "personalausweis",
            "ausweisnummer",
            "rentenversicherungsnummer",
        ],
    },
    weak: Hints::NONE,
    veto: ID_LIKE,
};

const IP_ADDRESS: DetectorNames = DetectorNames {
    strong: Hints {
        tokens: &["ip", "ips", "ipaddr", "ipaddress", "ipv4", "ipv6"],
        phrases: &[
            &["ip", "address"],
            &["remote", "addr"],
            &["remote", "address"],
            &["client", "addr"],
            &["forwarded", "for"],
            &["host", "address"],
        ],
        fragments: &["ipaddr", "ipv4", "ipv6", "remoteaddr"],
    },
    weak: Hints {
        tokens: &["host", "peer", "origin", "source", "src", "dst"],
        phrases: &[],
        fragments: &[],
    },
    veto: &[
        "version", "ver", "release", "build", "semver", "firmware", "revision", "rev", "oid",
        "mib", "os", "patch",
    ],
};

const IBAN: DetectorNames = DetectorNames {
    strong: Hints {
        tokens: &["iban", "ibans"],
        phrases: &[&["bank", "account"], &["account", "iban"]],
        fragments: &["iban", "bankverbindung", "bankaccount"],
    },
    weak: Hints {
        tokens: &["account", "konto", "kontonummer", "bank", "payout"],
        phrases: &[],
        fragments: &[],
    },
    veto: &[],
};

const DATE_OF_BIRTH: DetectorNames = DetectorNames {
    strong: Hints {
        tokens: &[
            "dob",
            "birthday",
            "birthdate",
            "birthdays",
            "geburtsdatum",
            "geburtstag",
            "naissance",
            "nacimiento",
            "nascita",
            "geboortedatum",
            "born",
        ],
        phrases: &[
            &["date", "of", "birth"],
            &["birth", "date"],
            &["birth", "day"],
            &["date", "birth"],
            &["date", "naissance"],
            &["fecha", "nacimiento"],
            &["data", "nascita"],
        ],
        fragments: &[
            "birthdate",
            "birthday",
            "dateofbirth",
            "geburtsdatum",
            "geburtstag",
            "naissance",
            "nacimiento",
            "nascita",
            "geboorte",
        ],
    },
    weak: Hints {
        tokens: &["birth", "geburt"],
        phrases: &[],
        fragments: &[],
    },
    veto: &["name", "weight", "certificate", "registration", "order"],
};

const POSTAL_ADDRESS: DetectorNames = DetectorNames {
    strong: Hints {
        tokens: &[
            "address",
            "addresses",
            "addr",
            "street",
            "streetaddress",
            "strasse",
            "straße",
            "anschrift",
            "adresse",
            "direccion",
            "dirección",
            "indirizzo",
            "domicilio",
            "adres",
        ],
        phrases: &[
            &["address", "line"],
            &["street", "address"],
            &["mailing", "address"],
            &["postal", "address"],
        ],
        fragments: &[
            "address",
            "strasse",
            "straße",
            "anschrift",
            "adresse",
            "direccion",
            "indirizzo",
        ],
    },
    weak: Hints {
        tokens: &["residence", "location", "line1", "line2"],
        phrases: &[],
        fragments: &[],
    },
    veto: &[
        "email",
        "mail",
        "ip",
        "ipv4",
        "ipv6",
        "mac",
        "url",
        "web",
        "website",
        "wallet",
        "remote",
        "host",
        "server",
        "memory",
        "contract",
        "bitcoin",
        "btc",
        "eth",
        "proxy",
        "forwarded",
        "link",
        "uri",
        "ipaddress",
        "emailaddress",
        "macaddress",
    ],
};

const PERSON_NAME: DetectorNames = DetectorNames {
    strong: Hints {
        tokens: &[
            "firstname",
            "lastname",
            "fullname",
            "surname",
            "surnames",
            "forename",
            "givenname",
            "familyname",
            "vorname",
            "nachname",
            "familienname",
            "prenom",
            "prénom",
            "nombre",
            "apellido",
            "apellidos",
            "cognome",
            "voornaam",
            "achternaam",
            "cardholder",
        ],
        phrases: &[
            &["first", "name"],
            &["last", "name"],
            &["full", "name"],
            &["given", "name"],
            &["family", "name"],
            &["middle", "name"],
            &["maiden", "name"],
            &["contact", "name"],
            &["customer", "name"],
            &["employee", "name"],
            &["person", "name"],
            &["patient", "name"],
            &["account", "holder"],
            &["card", "holder"],
            &["holder", "name"],
        ],
        fragments: &[
            "firstname",
            "lastname",
            "fullname",
            "surname",
            "vorname",
            "nachname",
            "cardholder",
            "accountholder",
        ],
    },
    weak: Hints {
        tokens: &[
            "name",
            "names",
            "contact",
            "customer",
            "owner",
            "author",
            "employee",
            "person",
            "patient",
            "holder",
            "recipient",
            "sender",
            "manager",
            "signatory",
            "nom",
            "client",
            "guest",
            "passenger",
            "student",
            "member",
        ],
        phrases: &[],
        fragments: &[],
    },
    veto: &[
        "product",
        "company",
        "city",
        "country",
        "street",
        "file",
        "filename",
        "table",
        "column",
        "host",
        "hostname",
        "domain",
        "brand",
        "category",
        "item",
        "store",
        "shop",
        "team",
        "org",
        "organization",
        "organisation",
        "business",
        "app",
        "project",
        "event",
        "campaign",
        "tag",
        "role",
        "group",
        "department",
        "user",
        "username",
        "display",
        "nick",
        "nickname",
        "screen",
        "login",
        "firma",
        "produkt",
        "stadt",
        "ville",
        "ciudad",
        "region",
        "state",
        "county",
        "district",
        "bank",
        "school",
        "hotel",
        "venue",
        "airport",
        "model",
        "plan",
        "feature",
        "metric",
        "service",
        "server",
        "database",
        "schema",
        "pipeline",
        "job",
        "task",
        "queue",
        "topic",
        "channel",
        "device",
        "browser",
        "sku",
        "pet",
        "dog",
        "cat",
        "animal",
        "ship",
        "vessel",
        "products",
        "companies",
        "cities",
        "countries",
        "stores",
        "teams",
        "projects",
        "events",
        "categories",
        "items",
        "brands",
        "organizations",
        "departments",
        "tags",
        "roles",
        "groups",
        "files",
    ],
};

fn names(d: BuiltinDetector) -> &'static DetectorNames {
    use BuiltinDetector::*;
    match d {
        Email => &EMAIL,
        Phone => &PHONE,
        CreditCard => &CREDIT_CARD,
        NationalId => &NATIONAL_ID,
        IpAddress => &IP_ADDRESS,
        Iban => &IBAN,
        PersonName => &PERSON_NAME,
        DateOfBirth => &DATE_OF_BIRTH,
        PostalAddress => &POSTAL_ADDRESS,
    }
}

/// The signal of `column` (in `table`) for detector `d`: a strong hint beats a veto; a veto
/// (a modifier in the column name, or a veto word in the column or table name) beats a weak
/// hint.
pub(crate) fn signal(d: BuiltinDetector, column: &NameTokens, table: &NameTokens) -> NameSignal {
    let n = names(d);
    let modified = column
        .tokens
        .iter()
        .any(|t| MODIFIERS.contains(&t.as_str()));
    let vetoed = |t: &NameTokens| t.tokens.iter().any(|w| n.veto.contains(&w.as_str()));
    if modified {
        return NameSignal::Veto;
    }
    if n.strong.matches(column) {
        // Postal hints lose to a more specific address kind (`email_address`, `ip_address`).
        return if d == BuiltinDetector::PostalAddress && vetoed(column) {
            NameSignal::Veto
        } else {
            NameSignal::Strong
        };
    }
    if vetoed(column) || (n.weak.matches(column) && vetoed(table)) {
        return NameSignal::Veto;
    }
    if n.weak.matches(column) {
        NameSignal::Weak
    } else {
        NameSignal::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use BuiltinDetector::*;

    fn words(name: &str) -> Vec<String> {
        tokenize(name).tokens
    }

    fn sig(d: BuiltinDetector, column: &str, table: &str) -> NameSignal {
        signal(d, &tokenize(column), &tokenize(table))
    }

    #[test]
    fn tokenizer_splits_cases_and_separators() {
        assert_eq!(words("customer_email"), ["customer", "email"]);
        assert_eq!(words("EmailAddress"), ["email", "address"]);
        assert_eq!(words("IPAddress"), ["ip", "address"]);
        assert_eq!(words("e-mail"), ["e", "mail"]);
        assert_eq!(words("address_line1"), ["address", "line1"]);
        assert_eq!(words("CUSTOMER-EMAIL"), ["customer", "email"]);
        assert_eq!(words("Geburtsdatum"), ["geburtsdatum"]);
        assert_eq!(tokenize("dateOfBirth").joined, "dateofbirth");
    }

    #[test]
    fn hints_in_several_languages() {
        for (d, col) in [
            (Email, "customer_email"),
            (Email, "EmailAddress"),
            (Email, "e_mail"),
            (Email, "mail"),
            (Email, "kundenEmail"),
            (NationalId, "ssn"),
            (NationalId, "sozialversicherungsnummer"),
            (NationalId, "numero_securite_sociale"),
            (NationalId, "national_id"),
            (Phone, "telefonnummer"),
            (Phone, "mobile_no"),
            (CreditCard, "card_number"),
            (CreditCard, "kreditkartennummer"),
            (IpAddress, "remote_addr"),
            (IpAddress, "client_ip"),
            (Iban, "iban"),
            (PersonName, "first_name"),
            (PersonName, "Nachname"),
            (DateOfBirth, "date_of_birth"),
            (DateOfBirth, "geburtsdatum"),
            (DateOfBirth, "dob"),
            (PostalAddress, "street_address"),
            (PostalAddress, "Anschrift"),
        ] {
            assert_eq!(sig(d, col, "t"), NameSignal::Strong, "{d:?} {col}");
        }
    }

    #[test]
    fn vetoes_and_modifiers() {
        assert_eq!(sig(IpAddress, "app_version", "t"), NameSignal::Veto);
        assert_eq!(sig(CreditCard, "order_number", "t"), NameSignal::Veto);
        assert_eq!(sig(Phone, "sku", "t"), NameSignal::Veto);
        assert_eq!(sig(Email, "email_verified", "t"), NameSignal::Veto);
        assert_eq!(sig(DateOfBirth, "birth_year", "t"), NameSignal::Veto);
        assert_eq!(sig(PostalAddress, "email_address", "t"), NameSignal::Veto);
        assert_eq!(sig(PostalAddress, "ip_address", "t"), NameSignal::Veto);
        assert_eq!(sig(PersonName, "name", "products"), NameSignal::Veto);
        assert_eq!(sig(PersonName, "name", "customers"), NameSignal::Weak);
        assert_eq!(sig(PersonName, "city", "t"), NameSignal::Veto);
        assert_eq!(sig(PersonName, "product_name", "t"), NameSignal::Veto);
        assert_eq!(sig(Email, "comment", "t"), NameSignal::None);
    }
}
