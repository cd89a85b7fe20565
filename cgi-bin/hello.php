<?php
// CGI demo for php-cgi (only when it is installed: `cgi .php php-cgi;` in
// conf/default.conf). php-cgi writes its own header block; REDIRECT_STATUS=200,
// which webserv sets, lets it run as a CGI.
header("Content-Type: text/html; charset=utf-8");
$name = isset($_GET["name"]) ? $_GET["name"] : "world";
?>
<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Hello from PHP</title>
<link rel="stylesheet" href="/css/style.css"></head><body>
<h1>Hello, <?= htmlspecialchars($name) ?>!</h1>
<p>PHP <?= htmlspecialchars(PHP_VERSION) ?> via <?= htmlspecialchars($_SERVER["SERVER_SOFTWARE"]) ?>.</p>
</body></html>
