// mmboost data: dataset layouts, list parsing and the validation split.
#include "data/dataset.h"

#include <algorithm>
#include <cctype>
#include <exception>
#include <functional>
#include <map>
#include <set>

#include "data/config.h"
#include "data/fileio.h"
#include "engine/error.h"
#include "engine/rng.h"

namespace mm::data {

using nlohmann::json;

namespace {

std::string trim(const std::string& s) {
  size_t a = 0, b = s.size();
  while (a < b && std::isspace(static_cast<unsigned char>(s[a]))) ++a;
  while (b > a && std::isspace(static_cast<unsigned char>(s[b - 1]))) --b;
  return s.substr(a, b - a);
}

std::string substitute(const std::string& tmpl, const std::string& id, const std::string& split) {
  std::string out;
  for (size_t i = 0; i < tmpl.size();) {
    if (tmpl.compare(i, 4, "{id}") == 0) {
      out += id;
      i += 4;
    } else if (tmpl.compare(i, 7, "{split}") == 0) {
      out += split;
      i += 7;
    } else {
      out += tmpl[i++];
    }
  }
  return out;
}

bool is_manifest_jsonl(const std::string& path, const std::string& text) {
  std::string ext = extension_lower(path);
  if (ext == ".jsonl" || ext == ".json" || ext == ".ndjson") return true;
  size_t p = text.compare(0, 3, "\xEF\xBB\xBF") == 0 ? 3 : 0;
  while (p < text.size() && std::isspace(static_cast<unsigned char>(text[p]))) ++p;
  return p < text.size() && text[p] == '{';
}

std::string infer_type(const std::string& path) {
  std::string ext = extension_lower(path);
  if (ext == ".wav" || ext == ".flac" || ext == ".ogg" || ext == ".oga" || ext == ".aiff" || ext == ".aif") {
    return "audio";
  }
  if (ext == ".jpg" || ext == ".jpeg" || ext == ".png") return "image";
  if (ext == ".npy") return "vector";
  FileStat st = stat_path(path);
  if (st.exists && st.is_dir) return "frames";
  return "";
}

struct ManifestRow {
  std::string id;
  std::string label;
  bool label_is_int = false;
  int64_t label_int = 0;
  std::map<std::string, std::string> fields;  // modality column -> path text
  int64_t line = 0;
};

// Reads a manifest (CSV with header, or JSONL) into rows. Errors name the file and line.
std::vector<ManifestRow> read_manifest_rows(const std::string& text, const std::string& name,
                                            std::vector<std::string>* columns) {
  std::vector<ManifestRow> rows;
  if (is_manifest_jsonl(name, text)) {
    int64_t line = 0;
    size_t pos = text.compare(0, 3, "\xEF\xBB\xBF") == 0 ? 3 : 0;
    while (pos <= text.size()) {
      size_t nl = text.find('\n', pos);
      std::string ln = trim(text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos));
      ++line;
      pos = nl == std::string::npos ? text.size() + 1 : nl + 1;
      if (ln.empty()) continue;
      // ordered: the modality columns keep the order of the first line's keys
      nlohmann::ordered_json obj = nlohmann::ordered_json::parse(ln, nullptr, false);
      MM_CHECK(!obj.is_discarded() && obj.is_object(),
               name << ":" << line << ": not a JSON object (each line of a JSONL manifest is one object)");
      ManifestRow r;
      r.line = line;
      for (auto it = obj.begin(); it != obj.end(); ++it) {
        const nlohmann::ordered_json& v = it.value();
        if (it.key() == "id") {
          MM_CHECK(v.is_string() || v.is_number_integer(), name << ":" << line << ": \"id\" must be a string");
          r.id = v.is_string() ? v.get<std::string>() : std::to_string(v.get<int64_t>());
        } else if (it.key() == "label") {
          if (v.is_number_integer()) {
            r.label_is_int = true;
            r.label_int = v.get<int64_t>();
            r.label = std::to_string(r.label_int);
          } else {
            MM_CHECK(v.is_string(), name << ":" << line << ": \"label\" must be a string or an integer");
            r.label = v.get<std::string>();
          }
        } else {
          MM_CHECK(v.is_string(), name << ":" << line << ": " << quote_text(it.key()) << " must be a path string");
          r.fields[it.key()] = v.get<std::string>();
          if (columns && rows.empty()) columns->push_back(it.key());
        }
      }
      rows.push_back(std::move(r));
    }
    return rows;
  }
  std::vector<CsvRow> csv = parse_csv(text, ',', name);
  MM_CHECK(!csv.empty(), name << ": empty manifest (expected a header line id,label,<modality>...)");
  const CsvRow& head = csv[0];
  int id_col = -1, label_col = -1;
  std::vector<std::string> names;
  for (size_t i = 0; i < head.fields.size(); ++i) {
    std::string h = trim(head.fields[i]);
    names.push_back(h);
    if (h == "id") id_col = static_cast<int>(i);
    else if (h == "label") label_col = static_cast<int>(i);
    else if (columns) columns->push_back(h);
  }
  MM_CHECK(id_col >= 0 && label_col >= 0,
           name << ":" << head.line << ": the manifest header must name columns \"id\" and \"label\" (found: "
                << (head.fields.empty() ? std::string("nothing") : text.substr(0, text.find('\n'))) << ")");
  for (size_t r = 1; r < csv.size(); ++r) {
    const CsvRow& row = csv[r];
    MM_CHECK(row.fields.size() == names.size(),
             name << ":" << row.line << ": expected " << names.size() << " columns as in the header, found "
                  << row.fields.size());
    ManifestRow m;
    m.line = row.line;
    m.id = trim(row.fields[static_cast<size_t>(id_col)]);
    m.label = trim(row.fields[static_cast<size_t>(label_col)]);
    for (size_t i = 0; i < names.size(); ++i) {
      if (static_cast<int>(i) != id_col && static_cast<int>(i) != label_col) m.fields[names[i]] = trim(row.fields[i]);
    }
    rows.push_back(std::move(m));
  }
  return rows;
}

bool all_integers(const std::vector<std::string>& v) {
  for (const auto& s : v) {
    if (s.empty() || s.size() > 9) return false;
    for (char c : s) if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  }
  return !v.empty();
}

struct Preset {
  std::string train, test;
  std::vector<int> id_columns;
  int label_column, split_column;
  std::vector<std::pair<std::string, std::pair<std::string, std::string>>> modalities;  // name -> (type, path)
};

Preset preset_for(const std::string& format) {
  if (format == "cremad") {
    return {"annotations/train.csv", "annotations/test.csv", {0}, 1, -1,
            {{"audio", {"audio", "AudioWAV/{id}.wav"}}, {"video", {"frames", "Image-01-FPS/{id}"}}}};
  }
  if (format == "kinetics_sounds") {
    return {"annotations/train.csv", "annotations/test.csv", {0}, 1, -1,
            {{"audio", {"audio", "{split}_wav/{id}.wav"}}, {"video", {"frames", "{split}_img/Image-01-FPS/{id}"}}}};
  }
  if (format == "vggsound") {
    return {"vggsound.csv", "vggsound.csv", {0, 1}, 2, 3,
            {{"audio", {"audio", "{split}-audios/{split}-set/{id}.wav"}},
             {"video", {"frames", "{split}-videos/{split}-set-img/Image-01-FPS/{id}.mp4"}}}};
  }
  return {"", "", {0}, 1, -1, {}};
}

std::string split_dir(const std::string& split) { return split == "test" ? "test" : "train"; }

bool has_control(const std::string& s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7F; });
}

bool is_header_word(const std::string& label) {
  const std::string l = lower(label);
  return l == "label" || l == "labels" || l == "class" || l == "category";
}

// Columns a row of a CSV list must have: up to the last id, label or split column.
size_t columns_needed(const DatasetSpec& spec) {
  int need = spec.label_column;
  for (int c : spec.id_columns) need = std::max(need, c);
  return static_cast<size_t>(std::max(need, spec.split_column) + 1);
}

// The column count of most rows of a list (the smaller one on a tie): rows that differ from it
// hold an unquoted delimiter or lack a field, which would shift the label or split column.
size_t usual_column_count(const std::vector<CsvRow>& rows) {
  std::map<size_t, size_t> count;
  for (const auto& r : rows) count[r.fields.size()]++;
  size_t best = 0, n = 0;
  for (const auto& [cols, k] : count) {
    if (k > n) {
      best = cols;
      n = k;
    }
  }
  return best;
}

// Throws, naming `where`, when a CSV row has too few columns or another count than the list's
// other rows.
void check_columns(const DatasetSpec& spec, const CsvRow& r, size_t need, size_t usual, const std::string& where) {
  const size_t n = r.fields.size();
  auto holds = [&](char c) {
    return c != spec.delimiter && std::any_of(r.fields.begin(), r.fields.end(), [c](const std::string& f) {
             return f.find(c) != std::string::npos;
           });
  };
  std::string hint;
  if (holds('\t')) {
    hint = "; the row holds tabs: for a tab-separated list set data.csv.delimiter to \"\\t\"";
  } else if (holds(';')) {
    hint = "; the row holds ';': for a list separated by ';' set data.csv.delimiter to \";\"";
  }
  MM_CHECK(n >= need, where << ": expected at least " << need << " columns (id, label"
                            << (spec.split_column >= 0 ? ", split" : "") << "), found " << n << hint);
  MM_CHECK(n == usual, where << ": found " << n << " columns where the other rows of the list have " << usual
                             << (n > usual ? std::string("; a field holding the delimiter '") + spec.delimiter +
                                                 "' must be quoted"
                                           : std::string()));
}

// The value of a row's split column, lower-cased: "train" or "test", or "val" where data.lists.val
// names a list. Anything else is an error naming `where` (such rows are not silently dropped).
std::string split_of(const DatasetSpec& spec, const CsvRow& r, const std::string& where) {
  const std::string sv = lower(trim(r.fields[static_cast<size_t>(spec.split_column)]));
  const bool ok = sv == "train" || sv == "test" || (sv == "val" && !spec.list_val.empty());
  MM_CHECK(ok, where << ": the split column (" << spec.split_column << ") reads "
                     << quote_text(trim(r.fields[static_cast<size_t>(spec.split_column)]))
                     << "; expected train or test"
                     << (spec.list_val.empty() ? "" : " (or val)")
                     << (sv == "split" ? " (a header row? set data.csv.header to \"yes\")" : ""));
  return sv;
}

}  // namespace

std::vector<CsvRow> parse_csv(const std::string& text, char delim, const std::string& name) {
  std::vector<CsvRow> rows;
  size_t i = text.compare(0, 3, "\xEF\xBB\xBF") == 0 ? 3 : 0;
  int64_t line = 1;
  CsvRow row;
  row.line = line;
  std::string field;
  bool in_quotes = false, any = false, quoted_field = false;
  auto end_row = [&]() {
    if (any || !field.empty() || !row.fields.empty() || quoted_field) {
      row.fields.push_back(field);
      bool blank = row.fields.size() == 1 && trim(row.fields[0]).empty() && !quoted_field;
      if (!blank) rows.push_back(row);
    }
    row = CsvRow();
    field.clear();
    any = false;
    quoted_field = false;
  };
  int64_t quote_line = 0;
  for (; i < text.size(); ++i) {
    char c = text[i];
    if (in_quotes) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          field += '"';
          ++i;
        } else {
          in_quotes = false;
        }
      } else {
        // List fields never hold a line break: a quote still open at the end of the line is a
        // missing closing quote, which would otherwise swallow the rows that follow.
        MM_CHECK(c != '\n', name << ":" << quote_line
                                  << ": unterminated quoted field (the quote opened on this line is not closed "
                                     "before the line ends)");
        field += c;
      }
      continue;
    }
    if (c == '"' && field.empty()) {
      in_quotes = true;
      quoted_field = true;
      quote_line = line;
      any = true;
    } else if (c == delim) {
      row.fields.push_back(field);
      field.clear();
      any = true;
    } else if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') {
      continue;
    } else if (c == '\n') {
      end_row();
      ++line;
      row.line = line;
    } else {
      field += c;
    }
  }
  MM_CHECK(!in_quotes, name << ":" << quote_line << ": unterminated quoted field (the quote opened on this line is "
                                                    "not closed before the end of the file)");
  end_row();
  return rows;
}

DatasetSpec resolve_spec(const json& merged) {
  validate_config(merged);
  DatasetSpec s;
  s.cfg = merged;
  s.format = merged["format"].get<std::string>();
  s.root = merged["root"].get<std::string>();
  const bool manifest = s.format == "manifest";
  if (!manifest) {
    MM_CHECK(!s.root.empty(), "data.root is empty: set it to the dataset folder (e.g. --data-root /data/CREMA-D, "
                              "or --set data.root=DIR)");
    FileStat st = stat_path(s.root);
    MM_CHECK(st.exists && st.is_dir, "data.root \"" << s.root << "\" is not a directory");
  }
  Preset p = preset_for(s.format);
  auto list_path = [&](const char* key, const std::string& preset) -> std::string {
    std::string v = merged["lists"][key].get<std::string>();
    if (v.empty()) v = preset;
    if (v.empty()) return "";
    return manifest && s.root.empty() ? v : join_path(s.root, v);
  };
  s.list_train = list_path("train", p.train);
  s.list_val = list_path("val", "");
  s.list_test = list_path("test", p.test);
  MM_CHECK(!s.list_train.empty(), "data.lists.train is empty: format \"" << s.format
                                                                         << "\" needs the path of the train list");

  const json& csv = merged["csv"];
  s.id_columns = p.id_columns;
  if (!csv["id_columns"].empty()) {
    s.id_columns.clear();
    for (const auto& c : csv["id_columns"]) s.id_columns.push_back(c.get<int>());
  }
  s.id_join = csv["id_join"].get<std::string>();
  s.label_column = csv["label_column"].get<int>() >= 0 ? csv["label_column"].get<int>() : p.label_column;
  s.split_column = csv["split_column"].get<int>() >= 0 ? csv["split_column"].get<int>() : p.split_column;
  s.header = csv["header"].get<std::string>();
  std::string d = csv["delimiter"].get<std::string>();
  s.delimiter = d == "\\t" ? '\t' : d[0];

  auto params_for = [&](const std::string& type, const json& m) {
    std::string sec = type == "image" ? "frames" : type;
    json params = merged[sec];
    if (m.is_object() && m.contains(sec)) {
      for (auto it = m[sec].begin(); it != m[sec].end(); ++it) params[it.key()] = it.value();
    }
    return params;
  };

  const json& mods = merged["modalities"];
  if (mods.empty()) {
    if (manifest) {
      // infer from the train manifest: every column but id/label, typed by its first value
      std::string text = read_text_file(s.list_train);
      std::vector<std::string> cols;
      std::vector<ManifestRow> rows = read_manifest_rows(text, s.list_train, &cols);
      MM_CHECK(!rows.empty(), s.list_train << ": the manifest has no rows");
      MM_CHECK(!cols.empty(), s.list_train << ": the manifest names no modality column besides id and label");
      std::string base = s.root.empty() ? parent_dir(s.list_train) : s.root;
      for (const auto& c : cols) {
        std::string type = infer_type(join_path(base, rows[0].fields[c]));
        MM_CHECK(!type.empty(), s.list_train << ":" << rows[0].line << ": cannot tell the type of modality \"" << c
                                             << "\" from \"" << rows[0].fields[c]
                                             << "\"; list it in data.modalities with a \"type\"");
        s.modalities.push_back({c, type, c, params_for(type, json())});
      }
    } else {
      MM_CHECK(!p.modalities.empty(), "format \"" << s.format << "\" needs data.modalities (name, type, path)");
      for (const auto& [name, tp] : p.modalities) {
        s.modalities.push_back({name, tp.first, tp.second, params_for(tp.first, json())});
      }
    }
  } else {
    for (size_t i = 0; i < mods.size(); ++i) {
      const json& m = mods[i];
      ModalitySpec ms;
      ms.name = m["name"].get<std::string>();
      ms.type = m.value("type", std::string());
      ms.path = m.value("path", std::string());
      for (const auto& [name, tp] : p.modalities) {
        if (name == ms.name) {
          if (ms.type.empty()) ms.type = tp.first;
          if (ms.path.empty()) ms.path = tp.second;
        }
      }
      if (manifest && ms.path.empty()) ms.path = ms.name;
      MM_CHECK(!ms.path.empty(), "data.modalities[" << i << "] (\"" << ms.name
                                                   << "\") needs a \"path\" template such as \"audio/{id}.wav\"");
      if (ms.type.empty() && manifest) {
        std::string text = read_text_file(s.list_train);
        std::vector<ManifestRow> rows = read_manifest_rows(text, s.list_train, nullptr);
        MM_CHECK(!rows.empty() && rows[0].fields.count(ms.path), s.list_train << ": no column \"" << ms.path << "\"");
        std::string base = s.root.empty() ? parent_dir(s.list_train) : s.root;
        ms.type = infer_type(join_path(base, rows[0].fields[ms.path]));
      }
      MM_CHECK(!ms.type.empty(), "data.modalities[" << i << "] (\"" << ms.name
                                                   << "\") needs a \"type\": audio, frames, image or vector");
      ms.params = params_for(ms.type, m);
      s.modalities.push_back(std::move(ms));
    }
  }
  return s;
}

namespace {

struct LabelAt {
  std::string label;
  int64_t line = 0;
};

// Label strings of the train list with their lines, for class discovery. Rows that read_split
// will reject (too few or too many columns, an unknown split) are left out; if that leaves no
// label, the first such row's error is thrown here.
std::vector<LabelAt> collect_labels(const DatasetSpec& spec) {
  std::string text = read_text_file(spec.list_train);
  std::vector<LabelAt> labels;
  if (spec.format == "manifest") {
    for (const auto& r : read_manifest_rows(text, spec.list_train, nullptr)) {
      if (!r.label.empty()) labels.push_back({r.label, r.line});
    }
    return labels;
  }
  std::vector<CsvRow> rows = parse_csv(text, spec.delimiter, spec.list_train);
  const size_t need = columns_needed(spec), usual = usual_column_count(rows);
  std::exception_ptr first_problem;
  for (size_t i = 0; i < rows.size(); ++i) {
    const CsvRow& r = rows[i];
    if (i == 0 && spec.header == "yes") continue;
    if (i == 0 && spec.header == "auto" && r.fields.size() > static_cast<size_t>(spec.label_column) &&
        is_header_word(trim(r.fields[static_cast<size_t>(spec.label_column)]))) {
      continue;
    }
    try {
      const std::string where = spec.list_train + ":" + std::to_string(r.line);
      check_columns(spec, r, need, usual, where);
      if (spec.split_column >= 0 && split_of(spec, r, where) != "train") continue;
    } catch (const Error&) {
      if (!first_problem) first_problem = std::current_exception();
      continue;  // reported (or skipped) by read_split
    }
    std::string l = trim(r.fields[static_cast<size_t>(spec.label_column)]);
    if (!l.empty()) labels.push_back({l, r.line});
  }
  if (labels.empty() && first_problem) std::rethrow_exception(first_problem);
  return labels;
}

}  // namespace

std::vector<std::string> resolve_classes(const DatasetSpec& spec) {
  std::vector<std::string> classes;
  for (const auto& c : spec.cfg["classes"]) classes.push_back(c.get<std::string>());
  if (!classes.empty()) return classes;
  if (spec.format == "cremad") {
    std::string txt = join_path(spec.root, "annotations/classes.txt");
    if (stat_path(txt).exists) {
      std::string text = read_text_file(txt);
      if (text.compare(0, 3, "\xEF\xBB\xBF") == 0) text = text.substr(3);
      int64_t line = 0;
      size_t pos = 0;
      while (pos < text.size()) {
        size_t nl = text.find('\n', pos);
        std::string c = trim(text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos));
        pos = nl == std::string::npos ? text.size() : nl + 1;
        ++line;
        if (c.empty()) continue;
        MM_CHECK(std::find(classes.begin(), classes.end(), c) == classes.end(),
                 txt << ":" << line << ": class \"" << c << "\" listed twice");
        classes.push_back(c);
      }
      MM_CHECK(!classes.empty(), txt << ": lists no classes");
      return classes;
    }
    return {"NEU", "HAP", "SAD", "FEA", "DIS", "ANG"};
  }
  std::vector<LabelAt> labels = collect_labels(spec);
  std::set<std::string> uniq;
  for (const auto& l : labels) uniq.insert(l.label);
  classes.assign(uniq.begin(), uniq.end());
  MM_CHECK(!classes.empty(), spec.list_train << ": no labels found; is the list empty?");
  if (all_integers(classes)) {
    // Integer labels name the classes 0..max. At least half of those must occur in the train
    // list, so that one stray large label (a typo, an id in the label column) cannot create a
    // class, and an output unit, for every integer below it.
    const LabelAt* top = &labels[0];
    std::set<int64_t> values;
    for (const auto& l : labels) {
      const int64_t v = std::stoll(l.label);
      values.insert(v);
      if (v > std::stoll(top->label)) top = &l;
    }
    const int64_t mx = std::stoll(top->label);
    MM_CHECK(mx + 1 <= 2 * static_cast<int64_t>(values.size()),
             spec.list_train << ":" << top->line << ": integer label " << quote_text(top->label) << " would make "
                             << mx + 1 << " classes (0.." << mx << ") but the train list holds only " << values.size()
                             << " distinct labels; integer labels name the classes 0..max, and at least half of "
                                "those must occur in the train list (fix the label, renumber the classes, or list "
                                "the class names in data.classes)");
    classes.clear();
    for (int64_t k = 0; k <= mx; ++k) classes.push_back(std::to_string(k));
  }
  return classes;
}

SplitData parse_list(const DatasetSpec& spec, const std::vector<std::string>& classes, const std::string& text,
                     const std::string& list_path, const std::string& split, bool check_files, bool skip_bad) {
  SplitData out;
  std::map<std::string, int64_t> index;
  for (size_t k = 0; k < classes.size(); ++k) index[classes[k]] = static_cast<int64_t>(k);
  std::string known;
  for (size_t k = 0; k < classes.size() && k < 40; ++k) known += (k ? ", " : "") + classes[k];
  if (classes.size() > 40) known += ", ...";
  const bool integer_classes = all_integers(classes);

  const std::vector<std::string>& exts_default = {".jpg", ".jpeg", ".png"};
  auto check_sample = [&](Sample& smp, const std::string& where) {
    for (size_t m = 0; m < spec.modalities.size(); ++m) {
      const ModalitySpec& ms = spec.modalities[m];
      const std::string& path = smp.paths[m];
      const std::string problem = path_problem(path, ms.type == "frames");
      if (ms.type == "frames") {
        MM_CHECK(problem.empty(), where << ": clip " << quote_text(smp.id) << ": frame folder " << path
                                        << " of modality \"" << ms.name << "\" " << problem);
        std::vector<std::string> exts;
        for (const auto& e : ms.params.value("extensions", json::array())) exts.push_back(lower(e.get<std::string>()));
        if (exts.empty()) exts = exts_default;
        MM_CHECK(!list_dir_sorted(path, exts).empty(),
                 where << ": clip " << quote_text(smp.id) << ": frame folder " << path << " of modality \"" << ms.name
                       << "\" is empty (no .jpg/.jpeg/.png files)");
      } else {
        MM_CHECK(problem.empty(), where << ": clip " << quote_text(smp.id) << ": " << ms.type << " file " << path
                                        << " of modality \"" << ms.name << "\" " << problem);
      }
    }
  };
  auto lookup_label = [&](const std::string& label, bool is_int, int64_t as_int, const std::string& where) {
    auto it = index.find(label);
    if (it != index.end()) return it->second;
    if (is_int && as_int >= 0 && as_int < static_cast<int64_t>(classes.size())) return as_int;
    MM_FAIL(where << ": unknown label " << quote_text(label) << "; known classes: " << known
                  << " (set data.classes to change the class list)");
  };
  auto handle = [&](const std::string& where, const std::function<void()>& fn) {
    if (!skip_bad) {
      try {
        fn();
      } catch (const Error& e) {
        throw Error(e.what() + std::string(kSkipBadSamplesHint));
      }
      return;
    }
    try {
      fn();
    } catch (const Error& e) {
      out.skipped.push_back(e.what());
    }
  };

  const std::string sdir = split_dir(split);
  if (spec.format == "manifest") {
    std::vector<ManifestRow> rows = read_manifest_rows(text, list_path, nullptr);
    std::string base = spec.root.empty() ? parent_dir(list_path) : spec.root;
    for (const auto& r : rows) {
      std::string where = list_path + ":" + std::to_string(r.line);
      handle(where, [&]() {
        Sample smp;
        smp.origin = where;
        smp.id = r.id;
        MM_CHECK(!smp.id.empty(), where << ": empty \"id\"");
        MM_CHECK(!has_control(smp.id), where << ": clip id " << quote_text(smp.id) << " contains a control character");
        MM_CHECK(!r.label.empty(), where << ": clip " << quote_text(smp.id) << " has no label");
        smp.label = lookup_label(r.label, r.label_is_int, r.label_int, where);
        for (const auto& ms : spec.modalities) {
          auto f = r.fields.find(ms.path);
          MM_CHECK(f != r.fields.end() && !f->second.empty(),
                   where << ": clip " << quote_text(smp.id) << " has no path for modality \"" << ms.name
                         << "\" (column \"" << ms.path << "\")");
          MM_CHECK(!has_control(f->second), where << ": clip " << quote_text(smp.id) << ": the path of modality \""
                                                  << ms.name << "\" " << quote_text(f->second)
                                                  << " contains a control character");
          smp.paths.push_back(join_path(base, substitute(f->second, smp.id, sdir)));
        }
        if (check_files) check_sample(smp, where);
        out.samples.push_back(std::move(smp));
      });
    }
    return out;
  }

  std::vector<CsvRow> rows = parse_csv(text, spec.delimiter, list_path);
  const size_t need = columns_needed(spec), usual = usual_column_count(rows);
  for (size_t i = 0; i < rows.size(); ++i) {
    const CsvRow& r = rows[i];
    std::string where = list_path + ":" + std::to_string(r.line);
    if (i == 0 && spec.header != "no") {
      if (spec.header == "yes") continue;
      if (static_cast<int>(r.fields.size()) > spec.label_column) {
        std::string l = trim(r.fields[static_cast<size_t>(spec.label_column)]);
        if (is_header_word(l) && !index.count(l)) continue;
      }
    }
    handle(where, [&]() {
      check_columns(spec, r, need, usual, where);
      if (spec.split_column >= 0 && split_of(spec, r, where) != split) return;
      Sample smp;
      smp.origin = where;
      for (size_t k = 0; k < spec.id_columns.size(); ++k) {
        smp.id += (k ? spec.id_join : "") + trim(r.fields[static_cast<size_t>(spec.id_columns[k])]);
      }
      MM_CHECK(!smp.id.empty(), where << ": empty clip id");
      MM_CHECK(!has_control(smp.id), where << ": clip id " << quote_text(smp.id) << " contains a control character");
      MM_CHECK(smp.id.find('/') == std::string::npos || spec.format == "layout",
               where << ": clip id " << quote_text(smp.id) << " contains '/'");
      std::string label = trim(r.fields[static_cast<size_t>(spec.label_column)]);
      MM_CHECK(!label.empty(), where << ": clip " << quote_text(smp.id) << " has an empty label");
      // Integer labels name the class of that index, whatever their spelling ("01" is class 1).
      const bool is_int = integer_classes && all_integers({label});
      smp.label = lookup_label(label, is_int, is_int ? std::stoll(label) : 0, where);
      for (const auto& ms : spec.modalities) {
        smp.paths.push_back(join_path(spec.root, substitute(ms.path, smp.id, sdir)));
      }
      if (check_files) check_sample(smp, where);
      out.samples.push_back(std::move(smp));
    });
  }
  return out;
}

SplitData read_split(const DatasetSpec& spec, const std::vector<std::string>& classes, const std::string& split,
                     bool skip_bad) {
  MM_CHECK(split == "train" || split == "val" || split == "test",
           "unknown split \"" << split << "\"; use train, val or test");
  if (split == "test") {
    MM_CHECK(!spec.list_test.empty(), "data.lists.test is empty: format \"" << spec.format
                                                                            << "\" needs the path of the test list");
    return parse_list(spec, classes, read_text_file(spec.list_test), spec.list_test, "test", true, skip_bad);
  }
  if (split == "val" && !spec.list_val.empty()) {
    return parse_list(spec, classes, read_text_file(spec.list_val), spec.list_val, "val", true, skip_bad);
  }
  SplitData train = parse_list(spec, classes, read_text_file(spec.list_train), spec.list_train, "train", true,
                               skip_bad);
  if (!spec.list_val.empty()) return train;  // val comes from its own list
  const double frac = spec.cfg["val_fraction"].get<double>();
  if (frac <= 0) {
    MM_CHECK(split == "train", "there is no validation split: data.val_fraction is 0 and data.lists.val is empty");
    return train;
  }
  // Stratified carve: within each class, a permutation seeded by val_seed picks
  // round(frac * n_class) samples (at least 1) for val; both splits keep the list order.
  const uint64_t vseed = spec.cfg["val_seed"].get<uint64_t>();
  std::map<int64_t, std::vector<size_t>> by_class;
  for (size_t i = 0; i < train.samples.size(); ++i) by_class[train.samples[i].label].push_back(i);
  std::vector<char> is_val(train.samples.size(), 0);
  for (auto& [label, idx] : by_class) {
    Generator g(vseed * 1000003ULL + static_cast<uint64_t>(label) + 0x5eed);
    for (size_t i = idx.size(); i > 1; --i) {
      size_t j = static_cast<size_t>(g.randint(static_cast<int64_t>(i)));
      std::swap(idx[i - 1], idx[j]);
    }
    // at least one per class with two or more samples, so tiny datasets still validate
    size_t nval = static_cast<size_t>(std::llround(frac * static_cast<double>(idx.size())));
    if (nval == 0 && idx.size() >= 2) nval = 1;
    for (size_t k = 0; k < nval && k < idx.size(); ++k) is_val[idx[k]] = 1;
  }
  SplitData out;
  out.skipped = train.skipped;
  for (size_t i = 0; i < train.samples.size(); ++i) {
    if ((split == "val") == static_cast<bool>(is_val[i])) out.samples.push_back(train.samples[i]);
  }
  return out;
}

}  // namespace mm::data
