-- Reference shop schema (loaded into the application database by
-- devenv-mariadb-entrypoint; no USE statement on purpose).
SET NAMES utf8mb4;

CREATE TABLE users (
    id            INT UNSIGNED NOT NULL AUTO_INCREMENT,
    email         VARCHAR(190) NOT NULL,
    display_name  VARCHAR(100) NOT NULL,
    created_at    DATETIME     NOT NULL DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (id),
    UNIQUE KEY uq_users_email (email)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE shops (
    id            INT UNSIGNED NOT NULL AUTO_INCREMENT,
    owner_user_id INT UNSIGNED NOT NULL,
    name          VARCHAR(100) NOT NULL,
    slug          VARCHAR(100) NOT NULL,
    created_at    DATETIME     NOT NULL DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (id),
    UNIQUE KEY uq_shops_slug (slug),
    KEY idx_shops_owner (owner_user_id),
    CONSTRAINT fk_shops_owner FOREIGN KEY (owner_user_id) REFERENCES users (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE listings (
    id            INT UNSIGNED NOT NULL AUTO_INCREMENT,
    shop_id       INT UNSIGNED NOT NULL,
    title         VARCHAR(200) NOT NULL,
    description   TEXT         NOT NULL,
    price_cents   INT UNSIGNED NOT NULL,
    currency      CHAR(3)      NOT NULL DEFAULT 'EUR',
    quantity      INT UNSIGNED NOT NULL DEFAULT 1,
    state         ENUM('draft', 'active', 'sold_out', 'removed') NOT NULL DEFAULT 'active',
    created_at    DATETIME     NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at    DATETIME     NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
    PRIMARY KEY (id),
    KEY idx_listings_shop (shop_id),
    KEY idx_listings_state_created (state, created_at),
    CONSTRAINT fk_listings_shop FOREIGN KEY (shop_id) REFERENCES shops (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE listing_images (
    id            INT UNSIGNED NOT NULL AUTO_INCREMENT,
    listing_id    INT UNSIGNED NOT NULL,
    position      TINYINT UNSIGNED NOT NULL DEFAULT 0,
    path          VARCHAR(255) NOT NULL,   -- media/NNNNN.jpg: file /srv/media/<path>, URL /<path>
    width         SMALLINT UNSIGNED NULL,
    height        SMALLINT UNSIGNED NULL,
    PRIMARY KEY (id),
    UNIQUE KEY uq_listing_images_position (listing_id, position),
    CONSTRAINT fk_listing_images_listing FOREIGN KEY (listing_id) REFERENCES listings (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE orders (
    id            INT UNSIGNED NOT NULL AUTO_INCREMENT,
    buyer_user_id INT UNSIGNED NOT NULL,
    shop_id       INT UNSIGNED NOT NULL,
    status        ENUM('pending', 'paid', 'shipped', 'cancelled') NOT NULL DEFAULT 'pending',
    total_cents   INT UNSIGNED NOT NULL DEFAULT 0,
    currency      CHAR(3)      NOT NULL DEFAULT 'EUR',
    created_at    DATETIME     NOT NULL DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (id),
    KEY idx_orders_buyer (buyer_user_id),
    KEY idx_orders_shop_created (shop_id, created_at),
    CONSTRAINT fk_orders_buyer FOREIGN KEY (buyer_user_id) REFERENCES users (id),
    CONSTRAINT fk_orders_shop FOREIGN KEY (shop_id) REFERENCES shops (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE order_items (
    id               INT UNSIGNED NOT NULL AUTO_INCREMENT,
    order_id         INT UNSIGNED NOT NULL,
    listing_id       INT UNSIGNED NOT NULL,
    quantity         INT UNSIGNED NOT NULL DEFAULT 1,
    unit_price_cents INT UNSIGNED NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY uq_order_items_listing (order_id, listing_id),
    KEY idx_order_items_listing (listing_id),
    CONSTRAINT fk_order_items_order FOREIGN KEY (order_id) REFERENCES orders (id) ON DELETE CASCADE,
    CONSTRAINT fk_order_items_listing FOREIGN KEY (listing_id) REFERENCES listings (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
