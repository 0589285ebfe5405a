#pragma once
// The site (docs/protocol.md "Web pages"): every GET no other door takes is a page of web/ or a client
// library of clients/js/, compiled into the binary (static_files.h), or a 404 that says so.
namespace kabar {

class Router;

void open_site_door(Router& router);

}  // namespace kabar
