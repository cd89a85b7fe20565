//! Gateways to application servers that answer requests for webserv over a socket
//! (FastCGI), as opposed to the CGI scripts it runs itself (`cgi`).

pub mod fastcgi;
