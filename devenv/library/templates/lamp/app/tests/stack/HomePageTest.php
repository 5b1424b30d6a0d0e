<?php
declare(strict_types=1);

use PHPUnit\Framework\TestCase;

/** Through the whole stack: nginx (web) -> PHP-FPM -> MariaDB/memcached, as a browser gets it. */
final class HomePageTest extends TestCase
{
    private function fetch(string $path): array
    {
        $context = stream_context_create(['http' => ['timeout' => 10, 'ignore_errors' => true]]);
        $body = file_get_contents(shop_test_base_url() . $path, false, $context);
        $this->assertNotFalse($body, "GET $path failed");
        $status = (int) explode(' ', $http_response_header[0] ?? 'HTTP/1.1 0')[1];
        return [$status, $body];
    }

    public function testHomePageShowsTheNewestListingsFromTheDatabase(): void
    {
        [$status, $body] = $this->fetch('/');
        $this->assertSame(200, $status, $body);
        $newest = shop_db(shop_config())->query(
            "SELECT l.title, s.name FROM listings l JOIN shops s ON s.id = l.shop_id
              WHERE l.state = 'active' ORDER BY l.created_at DESC, l.id DESC LIMIT 1"
        )->fetch();
        $this->assertNotFalse($newest, 'no active listing in the database');
        $this->assertStringContainsString(h($newest['title']), $body);
        $this->assertStringContainsString(h($newest['name']), $body);
        $this->assertMatchesRegularExpression('/<p id="row-count">[1-9][0-9]* listings<\/p>/', $body);
    }

    public function testHealthEndpointAnswers(): void
    {
        [$status, $body] = $this->fetch('/healthz');
        $this->assertSame(200, $status);
        $this->assertSame("ok\n", $body);
    }
}
