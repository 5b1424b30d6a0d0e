-- Static seed: the fallback when no generated dataset is mounted at
-- /var/lib/devenv-seed (devenv mounts one for profiles with data.dataset; see
-- devenv/data/datasets.py). A file named *-seed.sql / *-seed.sql.gz / *-seed.sh
-- is skipped when a dataset is mounted. Explicit ids keep foreign keys readable.
-- Image paths point at the first 32 images of a generated image set.
SET NAMES utf8mb4;

INSERT INTO users (id, email, display_name, created_at) VALUES
    (1, 'ada@example.test', 'Ada Lovelace', '2024-01-01 09:00:00'),
    (2, 'bruno@example.test', 'Bruno Šimić', '2024-01-02 09:00:00'),
    (3, 'chloe@example.test', 'Chloé Dubois', '2024-01-03 09:00:00'),
    (4, 'dara@example.test', 'Dara Ó Briain', '2024-01-04 09:00:00'),
    (5, 'emil@example.test', 'Emil Jørgensen', '2024-01-05 09:00:00'),
    (6, 'fatima@example.test', 'Fatima Zahra', '2024-01-06 09:00:00'),
    (7, 'goran@example.test', 'Goran Ivanović', '2024-01-07 09:00:00'),
    (8, 'hana@example.test', 'Hana Suzuki', '2024-01-08 09:00:00'),
    (9, 'ines@example.test', 'Inês Costa', '2024-01-09 09:00:00'),
    (10, 'jonas@example.test', 'Jonas Müller', '2024-01-10 09:00:00'),
    (11, 'kemal@example.test', 'Kemal Yıldız', '2024-01-11 09:00:00'),
    (12, 'lena@example.test', 'Lena Nowak', '2024-01-12 09:00:00');

INSERT INTO shops (id, owner_user_id, name, slug, created_at) VALUES
    (1, 1, 'Ada\'s Looms', 'adas-looms', '2024-02-01 10:00:00'),
    (2, 2, 'Šimić Ceramics', 'simic-ceramics', '2024-02-02 10:00:00'),
    (3, 3, 'Atelier Chloé', 'atelier-chloe', '2024-02-03 10:00:00'),
    (4, 4, 'Dara & Sons <Woodwork>', 'dara-woodwork', '2024-02-04 10:00:00');

INSERT INTO listings (id, shop_id, title, description, price_cents, currency, quantity, state, created_at) VALUES
    (1, 1, 'Hand-woven wool scarf', 'Soft merino, natural dyes.', 4500, 'EUR', 6, 'active', '2024-03-01 08:00:00'),
    (2, 1, 'Linen table runner', 'Stonewashed linen, 40 × 180 cm.', 3200, 'EUR', 3, 'active', '2024-03-02 09:07:00'),
    (3, 1, 'Baby blanket "Cloud"', 'Organic cotton, machine washable.', 5900, 'EUR', 7, 'active', '2024-03-03 10:14:00'),
    (4, 1, 'Tapestry wall hanging', 'Macramé & weaving on driftwood.', 12000, 'EUR', 1, 'active', '2024-03-04 11:21:00'),
    (5, 1, 'Wool socks (pair)', 'Thick hiking socks.', 1800, 'EUR', 2, 'active', '2024-03-05 12:28:00'),
    (6, 1, 'Tea towel set of 3', 'Waffle weave.', 2400, 'EUR', 9, 'active', '2024-03-06 13:35:00'),
    (7, 2, 'Speckled stoneware mug', '350 ml, dishwasher safe ☕', 2200, 'EUR', 2, 'active', '2024-03-07 14:42:00'),
    (8, 2, 'Serving bowl, celadon glaze', 'Ø 28 cm.', 6400, 'EUR', 6, 'active', '2024-03-08 15:49:00'),
    (9, 2, 'Espresso cups (set of 4)', 'Matte black outside, white inside.', 3600, 'EUR', 1, 'sold_out', '2024-03-09 16:56:00'),
    (10, 2, 'Bud vase', 'Tiny vase for a single flower.', 1500, 'EUR', 9, 'active', '2024-03-10 17:03:00'),
    (11, 2, 'Dinner plate', 'Ø 27 cm, reactive blue glaze.', 2900, 'EUR', 4, 'active', '2024-03-11 08:10:00'),
    (12, 2, 'Tea & <Coffee> canister', 'Lidded jar with cork seal.', 3900, 'EUR', 1, 'active', '2024-03-12 09:17:00'),
    (13, 3, 'Silver hoop earrings', 'Sterling silver, 20 mm.', 4200, 'EUR', 2, 'active', '2024-03-13 10:24:00'),
    (14, 3, 'Pressed-flower pendant', 'Resin, real forget-me-nots 🌸', 3800, 'EUR', 7, 'active', '2024-03-14 11:31:00'),
    (15, 3, 'Leather card wallet', 'Vegetable-tanned, hand-stitched.', 3500, 'EUR', 7, 'active', '2024-03-15 12:38:00'),
    (16, 3, 'Beeswax candles (pair)', 'Hand-dipped, 25 cm.', 1400, 'EUR', 2, 'active', '2024-03-16 13:45:00'),
    (17, 3, 'Linocut print "Les Toits"', 'A4, edition of 30.', 2700, 'EUR', 4, 'draft', '2024-03-17 14:52:00'),
    (18, 3, 'Silk hair scrunchie', 'Mulberry silk.', 1200, 'EUR', 2, 'active', '2024-03-18 15:59:00'),
    (19, 4, 'Oak chopping board', 'Oiled, 45 × 25 cm.', 5500, 'EUR', 9, 'active', '2024-03-19 16:06:00'),
    (20, 4, 'Walnut spoon set', '3 spoons, food-safe oil.', 3000, 'EUR', 7, 'active', '2024-03-20 17:13:00'),
    (21, 4, 'Pine birdhouse', 'Untreated, for small birds.', 2600, 'EUR', 1, 'active', '2024-03-21 08:20:00'),
    (22, 4, 'Cherry wood bowl', 'Turned from one piece.', 7400, 'EUR', 2, 'active', '2024-03-22 09:27:00'),
    (23, 4, 'Ash coat rack', 'Five pegs, wall mounted.', 8800, 'EUR', 4, 'active', '2024-03-23 10:34:00'),
    (24, 4, 'Kids\' wooden train', 'Non-toxic paint, 4 cars.', 4900, 'EUR', 1, 'active', '2024-03-24 11:41:00');

INSERT INTO listing_images (listing_id, position, path, width, height) VALUES
    (1, 0, 'media/00000.jpg', 320, 240),
    (1, 1, 'media/00001.jpg', 320, 240),
    (2, 0, 'media/00002.jpg', 320, 240),
    (3, 0, 'media/00003.jpg', 320, 240),
    (4, 0, 'media/00004.jpg', 320, 240),
    (4, 1, 'media/00005.jpg', 320, 240),
    (5, 0, 'media/00006.jpg', 320, 240),
    (6, 0, 'media/00007.jpg', 320, 240),
    (7, 0, 'media/00008.jpg', 320, 240),
    (7, 1, 'media/00009.jpg', 320, 240),
    (8, 0, 'media/00010.jpg', 320, 240),
    (9, 0, 'media/00011.jpg', 320, 240),
    (10, 0, 'media/00012.jpg', 320, 240),
    (10, 1, 'media/00013.jpg', 320, 240),
    (11, 0, 'media/00014.jpg', 320, 240),
    (12, 0, 'media/00015.jpg', 320, 240),
    (13, 0, 'media/00016.jpg', 320, 240),
    (13, 1, 'media/00017.jpg', 320, 240),
    (14, 0, 'media/00018.jpg', 320, 240),
    (15, 0, 'media/00019.jpg', 320, 240),
    (16, 0, 'media/00020.jpg', 320, 240),
    (16, 1, 'media/00021.jpg', 320, 240),
    (17, 0, 'media/00022.jpg', 320, 240),
    (18, 0, 'media/00023.jpg', 320, 240),
    (19, 0, 'media/00024.jpg', 320, 240),
    (19, 1, 'media/00025.jpg', 320, 240),
    (20, 0, 'media/00026.jpg', 320, 240),
    (21, 0, 'media/00027.jpg', 320, 240),
    (22, 0, 'media/00028.jpg', 320, 240),
    (22, 1, 'media/00029.jpg', 320, 240),
    (23, 0, 'media/00030.jpg', 320, 240),
    (24, 0, 'media/00031.jpg', 320, 240);

INSERT INTO orders (id, buyer_user_id, shop_id, status, currency, created_at) VALUES
    (1, 6, 2, 'shipped', 'EUR', '2024-04-01 12:00:00'),
    (2, 7, 3, 'pending', 'EUR', '2024-04-02 12:00:00'),
    (3, 8, 4, 'cancelled', 'EUR', '2024-04-03 12:00:00'),
    (4, 9, 1, 'shipped', 'EUR', '2024-04-04 12:00:00'),
    (5, 10, 2, 'paid', 'EUR', '2024-04-05 12:00:00'),
    (6, 11, 3, 'shipped', 'EUR', '2024-04-06 12:00:00'),
    (7, 12, 4, 'pending', 'EUR', '2024-04-07 12:00:00'),
    (8, 5, 1, 'cancelled', 'EUR', '2024-04-08 12:00:00'),
    (9, 6, 2, 'shipped', 'EUR', '2024-04-09 12:00:00'),
    (10, 7, 3, 'paid', 'EUR', '2024-04-10 12:00:00');

-- unit price = listing price at seed time
INSERT INTO order_items (order_id, listing_id, quantity, unit_price_cents)
SELECT v.order_id, v.listing_id, v.quantity, l.price_cents
FROM (
    SELECT 1 AS order_id, 11 AS listing_id, 1 AS quantity
    UNION ALL SELECT 1 AS order_id, 12 AS listing_id, 2 AS quantity
    UNION ALL SELECT 2 AS order_id, 16 AS listing_id, 1 AS quantity
    UNION ALL SELECT 2 AS order_id, 13 AS listing_id, 1 AS quantity
    UNION ALL SELECT 2 AS order_id, 14 AS listing_id, 2 AS quantity
    UNION ALL SELECT 3 AS order_id, 19 AS listing_id, 2 AS quantity
    UNION ALL SELECT 4 AS order_id, 5 AS listing_id, 1 AS quantity
    UNION ALL SELECT 4 AS order_id, 2 AS listing_id, 1 AS quantity
    UNION ALL SELECT 5 AS order_id, 9 AS listing_id, 3 AS quantity
    UNION ALL SELECT 5 AS order_id, 10 AS listing_id, 1 AS quantity
    UNION ALL SELECT 5 AS order_id, 8 AS listing_id, 2 AS quantity
    UNION ALL SELECT 6 AS order_id, 17 AS listing_id, 3 AS quantity
    UNION ALL SELECT 7 AS order_id, 19 AS listing_id, 3 AS quantity
    UNION ALL SELECT 7 AS order_id, 23 AS listing_id, 1 AS quantity
    UNION ALL SELECT 8 AS order_id, 3 AS listing_id, 3 AS quantity
    UNION ALL SELECT 8 AS order_id, 5 AS listing_id, 2 AS quantity
    UNION ALL SELECT 8 AS order_id, 2 AS listing_id, 2 AS quantity
    UNION ALL SELECT 9 AS order_id, 7 AS listing_id, 2 AS quantity
    UNION ALL SELECT 10 AS order_id, 17 AS listing_id, 1 AS quantity
    UNION ALL SELECT 10 AS order_id, 18 AS listing_id, 2 AS quantity
) AS v
JOIN listings l ON l.id = v.listing_id;

UPDATE orders o
SET o.total_cents = (SELECT COALESCE(SUM(oi.quantity * oi.unit_price_cents), 0) FROM order_items oi WHERE oi.order_id = o.id);
