// Manual pages and bash completion made from the command line's own option table, so neither
// can list an option the program does not have (nor miss one it has).
#include "docs/cli_docs.h"

#include <CLI/CLI.hpp>

#include <regex>
#include <sstream>

namespace portcullis::docs {

namespace {

/// One option as a reader types it.
struct OptionDoc {
  std::vector<std::string> names;  ///< "-i", "--interface"; or the nmap form "-sS"
  std::string arg;                 ///< TEXT, UINT, … (empty for a flag)
  std::vector<std::string> choices;
  std::string text;
  bool positional = false;
};

OptionDoc describe(const CLI::Option* o) {
  OptionDoc d;
  d.positional = o->get_positional();
  d.text = o->get_description();
  std::string type = o->get_type_name();
  bool flag = o->get_expected_max() == 0;
  // nmap's multi-letter options are registered as --sS and mapped from -sS before parsing;
  // their descriptions start with the form the user types ("-sI ZOMBIE[:PORT]: idle scan").
  static const std::regex nmapForm(R"(^(-[A-Za-z]\w*)( [^:]*)?: (.*)$)");
  std::smatch m;
  if (d.positional) {
    d.names = {o->get_name()};
  } else if (std::regex_match(d.text, m, nmapForm)) {
    d.names = {m[1].str()};
    d.arg = m[2].matched ? m[2].str().substr(1) : "";
    d.text = m[3].str();
    flag = d.arg.empty() && flag;
  } else {
    for (const std::string& s : o->get_snames()) d.names.push_back("-" + s);
    for (const std::string& l : o->get_lnames()) d.names.push_back("--" + l);
  }
  if (!flag && d.arg.empty()) d.arg = type.substr(0, type.find(':'));
  size_t open = type.find('{'), close = type.find('}');
  if (open != std::string::npos && close != std::string::npos && close > open) {
    std::stringstream list(type.substr(open + 1, close - open - 1));
    for (std::string c; std::getline(list, c, ',');) d.choices.push_back(c);
  }
  if (!o->get_default_str().empty()) d.text += " (default: " + o->get_default_str() + ")";
  return d;
}

std::vector<OptionDoc> optionsOf(const CLI::App& app) {
  std::vector<OptionDoc> out;
  for (const CLI::Option* o : app.get_options()) {
    if (o->get_group().empty()) continue;  // hidden
    out.push_back(describe(o));
  }
  return out;
}

std::vector<const CLI::App*> subcommandsOf(const CLI::App& app) {
  return app.get_subcommands([](const CLI::App* s) { return !s->get_group().empty(); });
}

// roff: a backslash is \e, a line may not start with . or ', and - in names is \-.
std::string roff(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\\') {
      out += "\\e";
    } else if (c == '-') {
      out += "\\-";
    } else {
      out += c;
    }
  }
  if (!out.empty() && (out[0] == '.' || out[0] == '\'')) out = "\\&" + out;
  return out;
}

void paragraphs(std::ostringstream& out, const std::string& text) {
  std::stringstream in(text);
  std::string line;
  out << ".PP\n";
  while (std::getline(in, line)) {
    if (line.empty()) {
      out << ".PP\n";
    } else if (line.rfind("  ", 0) == 0) {  // an indented line is an example, kept as is
      out << ".nf\n" << roff(line.substr(2)) << "\n.fi\n";
    } else {
      out << roff(line) << "\n";
    }
  }
}

void optionList(std::ostringstream& out, const std::vector<OptionDoc>& opts) {
  for (const OptionDoc& d : opts) {
    out << ".TP\n";
    for (size_t i = 0; i < d.names.size(); ++i) {
      out << (i ? ", " : "") << "\\fB" << roff(d.names[i]) << "\\fR";
    }
    if (!d.arg.empty() && !d.positional) out << " \\fI" << roff(d.arg) << "\\fR";
    out << "\n" << roff(d.text);
    if (!d.choices.empty()) {
      out << "; one of";
      for (const std::string& c : d.choices) out << " \\fB" << roff(c) << "\\fR";
    }
    out << "\n";
  }
}

// Words offered after `cmd` (all its option names), and the case arms for option values.
std::string completionArms(const std::string& cmd, const std::vector<OptionDoc>& opts,
                           std::string& words) {
  std::string arms;
  for (const OptionDoc& d : opts) {
    if (d.positional) continue;
    for (const std::string& n : d.names) words += " " + n;
    std::string pattern;
    for (const std::string& n : d.names) pattern += (pattern.empty() ? "" : "|") + cmd + ":" + n;
    std::string values;
    if (!d.choices.empty()) {
      for (const std::string& c : d.choices) values += (values.empty() ? "" : " ") + c;
      arms += "    " + pattern + ") COMPREPLY=($(compgen -W \"" + values +
              "\" -- \"$cur\")); return ;;\n";
    } else if (d.names.back() == "--interface" || d.names.back() == "-e") {
      arms += "    " + pattern +
              ") COMPREPLY=($(compgen -W \"$(ls /sys/class/net 2>/dev/null)\" -- \"$cur\")); "
              "return ;;\n";
    } else if (!d.arg.empty()) {
      arms += "    " + pattern + ") COMPREPLY=($(compgen -f -- \"$cur\")); return ;;\n";
    }
  }
  return arms;
}

}  // namespace

std::string manPage(const CLI::App& app, const ManPage& page) {
  std::ostringstream out;
  out << ".TH " << page.name << " " << page.section << " \"\" \"portcullis\"\n";
  out << ".SH NAME\n" << roff(page.name) << " \\- " << roff(page.summary) << "\n";
  out << ".SH SYNOPSIS\n";
  for (const std::string& s : page.synopsis) out << ".nf\n" << roff(s) << "\n.fi\n";
  out << ".SH DESCRIPTION\n";
  for (const std::string& p : page.description) paragraphs(out, p);
  auto subs = subcommandsOf(app);
  if (subs.empty()) {
    out << ".SH OPTIONS\n";
    optionList(out, optionsOf(app));
  } else {
    out << ".SH COMMANDS\n";
    for (const CLI::App* s : subs) {
      out << ".SS " << roff(s->get_name()) << "\n" << roff(s->get_description()) << "\n";
      optionList(out, optionsOf(*s));
    }
  }
  for (const auto& [title, text] : page.sections) {
    out << ".SH " << roff(title) << "\n";
    paragraphs(out, text);
  }
  return out.str();
}

std::string bashCompletion(const CLI::App& app, const std::string& program) {
  std::string fn = "_" + std::regex_replace(program, std::regex("[^A-Za-z0-9]"), "_");
  std::string subWords, arms, perCommand;
  std::string topWords;
  arms += completionArms("", optionsOf(app), topWords);
  for (const CLI::App* s : subcommandsOf(app)) {
    subWords += " " + s->get_name();
    std::string words;
    arms += completionArms(s->get_name(), optionsOf(*s), words);
    perCommand +=
        "    " + s->get_name() + ") words=\"" + words.substr(words.empty() ? 0 : 1) + "\" ;;\n";
  }
  std::ostringstream out;
  out << "# bash completion for " << program << " (generated from its options; " << program
      << " --generate bash-completion)\n"
      << fn << "() {\n"
      << "  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} cmd= i words\n"
      << "  for ((i = 1; i < COMP_CWORD; i++)); do\n"
      << "    case \" " << subWords
      << " \" in *\" ${COMP_WORDS[i]} \"*) cmd=${COMP_WORDS[i]}; break ;; esac\n"
      << "  done\n"
      << "  case \"$cmd:$prev\" in\n"
      << arms << "  esac\n"
      << "  case \"$cmd\" in\n"
      << "    \"\") words=\"" << (subWords.empty() ? "" : subWords.substr(1)) << topWords
      << "\" ;;\n"
      << perCommand << "  esac\n"
      << "  if [[ $cur == -* || -n \"" << (subWords.empty() ? "" : "x")
      << "\" && -z $cmd ]]; then\n"
      << "    COMPREPLY=($(compgen -W \"$words\" -- \"$cur\"))\n"
      << "  else\n"
      << "    COMPREPLY=($(compgen -f -- \"$cur\"))\n"
      << "  fi\n"
      << "}\n"
      << "complete -F " << fn << " " << program << "\n";
  return out.str();
}

}  // namespace portcullis::docs
