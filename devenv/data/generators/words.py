"""Vocabulary of the shop generator. Plain tuples in a fixed order: the generated
bytes depend on this order, so changing any list means bumping the generator's
VERSION (devenv.data.generators.shop)."""

# (display form, ASCII form for e-mail addresses and slugs)
FIRST_NAMES = (
    ("Ada", "ada"), ("Bruno", "bruno"), ("Chloé", "chloe"), ("Dara", "dara"), ("Emil", "emil"),
    ("Fatima", "fatima"), ("Goran", "goran"), ("Hana", "hana"), ("Inês", "ines"), ("Jonas", "jonas"),
    ("Kemal", "kemal"), ("Lena", "lena"), ("Mateo", "mateo"), ("Noor", "noor"), ("Olga", "olga"),
    ("Pierre", "pierre"), ("Quinn", "quinn"), ("Rosa", "rosa"), ("Søren", "soren"), ("Tomás", "tomas"),
    ("Ursula", "ursula"), ("Vikram", "vikram"), ("Wanda", "wanda"), ("Xiu", "xiu"), ("Yara", "yara"),
    ("Zoë", "zoe"), ("Amélie", "amelie"), ("Björn", "bjorn"), ("Ciarán", "ciaran"), ("Dörte", "dorte"),
    ("Elif", "elif"), ("François", "francois"), ("Grzegorz", "grzegorz"), ("Håkon", "hakon"),
    ("Ioana", "ioana"), ("Jürgen", "jurgen"), ("Kaja", "kaja"), ("Luís", "luis"), ("Maëlle", "maelle"),
    ("Nikola", "nikola"), ("Oğuz", "oguz"), ("Paulina", "paulina"), ("Rafael", "rafael"),
    ("Sakura", "sakura"), ("Tereza", "tereza"), ("Uwe", "uwe"), ("Valentina", "valentina"),
    ("Wojciech", "wojciech"), ("Yusuf", "yusuf"), ("Žofia", "zofia"), ("Anna", "anna"), ("Ben", "ben"),
    ("Clara", "clara"), ("David", "david"), ("Eva", "eva"), ("Felix", "felix"), ("Greta", "greta"),
    ("Hugo", "hugo"), ("Iris", "iris"), ("Jakob", "jakob"), ("Karin", "karin"), ("Leo", "leo"),
    ("Mia", "mia"), ("Nils", "nils"), ("Oscar", "oscar"), ("Paula", "paula"), ("Ruth", "ruth"),
    ("Sam", "sam"), ("Tara", "tara"), ("Vera", "vera"),
)

LAST_NAMES = (
    ("Lovelace", "lovelace"), ("Šimić", "simic"), ("Dubois", "dubois"), ("Ó Briain", "obriain"),
    ("Jørgensen", "jorgensen"), ("Zahra", "zahra"), ("Ivanović", "ivanovic"), ("Suzuki", "suzuki"),
    ("Costa", "costa"), ("Müller", "muller"), ("Yıldız", "yildiz"), ("Nowak", "nowak"),
    ("García", "garcia"), ("Haddad", "haddad"), ("Petrova", "petrova"), ("Laurent", "laurent"),
    ("O'Neill", "oneill"), ("Rossi", "rossi"), ("Kowalczyk", "kowalczyk"), ("Fernández", "fernandez"),
    ("Schröder", "schroder"), ("Nakamura", "nakamura"), ("Dvořák", "dvorak"), ("Lindqvist", "lindqvist"),
    ("Mäkinen", "makinen"), ("Öztürk", "ozturk"), ("Popescu", "popescu"), ("Horvát", "horvat"),
    ("de Vries", "devries"), ("Janssens", "janssens"), ("Moreau", "moreau"), ("Novák", "novak"),
    ("Papadopoulos", "papadopoulos"), ("Smith", "smith"), ("Brown", "brown"), ("Wilson", "wilson"),
    ("Kim", "kim"), ("Nguyen", "nguyen"), ("Singh", "singh"), ("Okafor", "okafor"), ("Mensah", "mensah"),
    ("Ferreira", "ferreira"), ("Bauer", "bauer"), ("Wagner", "wagner"), ("Keller", "keller"),
    ("Hoffmann", "hoffmann"), ("Lambert", "lambert"), ("Caron", "caron"), ("Svensson", "svensson"),
    ("Eriksen", "eriksen"), ("Virtanen", "virtanen"), ("Kovač", "kovac"), ("Marić", "maric"),
    ("Łukasik", "lukasik"), ("Żak", "zak"), ("Çelik", "celik"), ("Demir", "demir"), ("Aydın", "aydin"),
)

SHOP_NOUNS = (
    ("Looms", "looms"), ("Ceramics", "ceramics"), ("Woodwork", "woodwork"), ("Pottery", "pottery"),
    ("Jewellery", "jewellery"), ("Leather", "leather"), ("Prints", "prints"), ("Candles", "candles"),
    ("Textiles", "textiles"), ("Glassworks", "glassworks"), ("Studio", "studio"), ("Workshop", "workshop"),
    ("Soapery", "soapery"), ("Bindery", "bindery"), ("Knits", "knits"), ("Forge", "forge"),
    ("Botanicals", "botanicals"), ("Paper Goods", "paper-goods"), ("Atelier", "atelier"), ("Supply", "supply"),
)

SHOP_ADJECTIVES = (
    ("Little", "little"), ("Golden", "golden"), ("Quiet", "quiet"), ("Northern", "northern"),
    ("Wild", "wild"), ("Old Town", "old-town"), ("Blue Door", "blue-door"), ("Honest", "honest"),
    ("Salt & Pepper", "salt-and-pepper"), ("Riverside", "riverside"), ("Copper", "copper"),
    ("Moss", "moss"), ("Fox", "fox"), ("Linden", "linden"), ("Harbour", "harbour"), ("Café", "cafe"),
    ("Über", "uber"), ("Petit", "petit"), ("Mañana", "manana"), ("Nordlys", "nordlys"),
)

ADJECTIVES = (
    "Hand-woven", "Hand-thrown", "Speckled", "Rustic", "Minimalist", "Vintage-style", "Recycled",
    "Organic", "Hand-carved", "Hand-stitched", "Glazed", "Matte", "Hammered", "Personalised",
    "Botanical", "Geometric", "Handmade", "Upcycled", "Natural", "Scandinavian", "Boho", "Tiny",
    "Oversized", "Everyday", "Limited-edition", "Hand-dyed", "Embroidered", "Brushed", "Smoked",
    "Reclaimed", "Marbled", "Forged", "Pressed", "Block-printed", "Wabi-sabi",
)

MATERIALS = (
    "wool", "merino", "linen", "cotton", "stoneware", "porcelain", "oak", "walnut", "ash", "cherry wood",
    "sterling silver", "brass", "copper", "leather", "beeswax", "soy wax", "glass", "paper", "cork",
    "hemp", "silk", "alpaca", "bamboo", "terracotta", "concrete", "felt", "resin", "pewter", "jute",
    "olive wood",
)

PRODUCTS = (
    "scarf", "table runner", "blanket", "wall hanging", "socks", "tea towel", "mug", "serving bowl",
    "espresso cup", "bud vase", "dinner plate", "canister", "earrings", "necklace", "ring", "bracelet",
    "cutting board", "spoon", "bowl", "candle", "notebook", "wallet", "belt", "tote bag", "cushion cover",
    "plant pot", "coaster", "lamp", "print", "poster", "soap bar", "beanie", "mittens", "apron", "tray",
    "jewellery box", "key ring", "bookmark", "picture frame", "clock", "planter", "teapot", "salad servers",
    "pendant", "card holder", "backpack", "pouch", "quilt", "rug", "mobile",
)

TITLE_SUFFIXES = (
    "", "", "", "", "", "", "", "", " (set of 2)", " (set of 4)", ", Ø 28 cm", ", 40 × 180 cm",
    ' "Cloud"', ' "Nordic"', " – gift wrapped", " & <gift box>", ", 350 ml", " for him & her",
    ", one of a kind", " (small)", " (large)",
)

PLACES = (
    "Lisbon", "Kraków", "Malmö", "Gent", "Ljubljana", "Porto", "Zürich", "Tallinn", "Göteborg",
    "Bilbao", "Thessaloniki", "Cork", "Leipzig", "Brno", "Turku", "Lyon", "Bergen", "Split",
)

COLOURS = (
    "charcoal", "oat", "sage green", "rust", "ochre", "indigo", "ivory", "terracotta", "slate blue",
    "mustard", "forest green", "blush pink", "sand", "midnight blue", "natural", "graphite",
)

CARE = (
    "hand wash in cold water", "dishwasher safe", "wipe clean with a damp cloth", "machine wash at 30 °C",
    "oil occasionally with food-safe oil", "keep away from direct sunlight", "dry flat",
    "not suitable for the microwave", "polish with a soft cloth",
)

PACKAGING = (
    "recycled cardboard", "tissue paper and a cotton bag", "compostable packaging",
    "a reusable linen pouch", "plastic-free packaging", "a hand-stamped gift box",
)

FILLER = (
    "thoughtfully", "slowly", "carefully", "small", "batch", "each", "piece", "unique", "texture",
    "colour", "light", "warm", "soft", "sturdy", "everyday", "use", "home", "kitchen", "table", "gift",
    "season", "collection", "studio", "local", "sustainable", "traditional", "technique", "finish",
    "detail", "edge", "surface", "pattern", "shape", "weight", "balance", "feel", "hand", "made",
    "designed", "crafted", "inspired", "coast", "forest", "morning", "evening", "market", "family",
    "workshop", "tools", "process", "years", "practice", "quality", "materials", "natural", "simple",
    "honest", "lasting", "beautiful", "practical", "generous", "gentle", "bold", "quiet", "friendly",
    "perfect", "favourite", "ideal", "special", "little", "variation", "character", "story",
)
