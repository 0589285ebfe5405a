#pragma once
// The authorization subcommands of the kabar binary (docs/authorization.md):
//   kabar token --sub U --role R [--cabang 3,4] [--ttl S] [--secret-file F | --key F [--alg RS256|ES256]]
//   kabar authz explain [--policy P] [--publish] TOKEN CHANNEL_OR_TOPIC
//   kabar check-config --policy P      (the option is added to the existing subcommand)
// main() registers them and asks run() whether one of them was chosen.
#include <CLI/CLI.hpp>
#include <optional>
#include <string>
#include <vector>

namespace kabar {

class AuthzCommands {
 public:
  explicit AuthzCommands(CLI::App& app);
  // Adds --policy to `kabar check-config`.
  void add_policy_option(CLI::App& check_config);
  // The exit code when `token` or `authz explain` was given; nullopt otherwise. Throws ConfigError for a
  // bad configuration, policy or key (main turns it into exit code 2).
  std::optional<int> run() const;
  // For check-config: validates the --policy file, if one was given, and says so on stdout.
  void check_policy() const;

 private:
  struct KeyFlags {
    std::string config_file, secret_file, key_file, jwks_file, algorithm;
  };
  int mint() const;
  int explain() const;

  CLI::App* token_ = nullptr;
  CLI::App* authz_ = nullptr;
  CLI::App* explain_ = nullptr;
  std::string subject_, role_, cabang_, kid_, issuer_, audience_;
  std::vector<std::string> extra_claims_;
  long ttl_ = 3600;
  KeyFlags token_keys_, explain_keys_;
  std::string policy_file_, explain_token_, explain_name_, check_policy_file_;
  bool explain_publish_ = false;
  bool explain_admin_ = false;  // the admin grant (the operator's page), asked of the node: no NAME
};

}  // namespace kabar
