-- The catalog schema: tables only. Keys, foreign keys and indexes are in
-- 03-constraints.sql, which runs after the data (a bulk load into bare tables).
CREATE TABLE customers (
    id          bigint NOT NULL,
    email       varchar(255) NOT NULL,
    full_name   varchar(255) NOT NULL,
    phone       varchar(32) NOT NULL,
    created_at  timestamp NOT NULL
);
CREATE TABLE products (
    id          bigint NOT NULL,
    name        varchar(255) NOT NULL,
    price_cents integer NOT NULL,
    created_at  timestamp NOT NULL
);
CREATE TABLE orders (
    id          bigint NOT NULL,
    customer_id bigint NOT NULL,
    status      varchar(16) NOT NULL,
    created_at  timestamp NOT NULL
);
CREATE TABLE order_lines (
    id               bigint NOT NULL,
    order_id         bigint NOT NULL,
    product_id       bigint NOT NULL,
    quantity         integer NOT NULL,
    unit_price_cents integer NOT NULL
);
