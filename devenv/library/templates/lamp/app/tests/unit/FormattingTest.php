<?php
declare(strict_types=1);

use PHPUnit\Framework\TestCase;

final class FormattingTest extends TestCase
{
    public function testFormatsPricesFromCents(): void
    {
        $this->assertSame('12.34 EUR', format_price(1234, 'EUR'));
        $this->assertSame('1,000.00 USD', format_price(100000, 'USD'));
        $this->assertSame('0.05 GBP', format_price(5, 'GBP'));
    }

    public function testEscapesHtml(): void
    {
        $this->assertSame('&lt;b&gt;Tom &amp; Jerry&apos;s&lt;/b&gt;', h("<b>Tom & Jerry's</b>"));
    }

    public function testMediaUrlIsRootRelativeAndEncoded(): void
    {
        $this->assertSame('/media/00042.jpg', media_url('media/00042.jpg'));
        $this->assertSame('/media/a%20b.jpg', media_url('/media/a b.jpg'));
    }

    public function testConfigComesFromTheEnvironment(): void
    {
        putenv('DEVENV_CACHE_TTL=42');
        try {
            $this->assertSame(42, shop_config()['cache_ttl']);
        } finally {
            putenv('DEVENV_CACHE_TTL');
        }
    }
}
