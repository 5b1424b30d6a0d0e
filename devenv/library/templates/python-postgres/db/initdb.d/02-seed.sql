-- The static seed (used only when no dataset is mounted; devenv mounts one).
INSERT INTO customers VALUES (1, 'ada@example.com', 'Ada Lovelace', '+44 20 7946 0001', '2020-01-01 00:00:00');
INSERT INTO products VALUES (1, 'oak desk', 12900, '2020-01-01 00:00:00');
INSERT INTO orders VALUES (1, 1, 'paid', '2020-01-02 00:00:00');
INSERT INTO order_lines VALUES (1, 1, 1, 1, 12900);
