// `qretrain export`: CSV rows per evaluation point with RFC 4180 quoting, and
// one JSON object per run with escaped strings and null for NaN.
#include "report/export.h"

#include <sstream>

#include <gtest/gtest.h>

namespace qretrain::report {
namespace {

RunRecord run_with(int points, const std::string& dataset) {
  RunRecord r;
  r.cell_key = "k";
  r.experiment = "exp";
  r.dataset = dataset;
  r.network = "256";
  r.method = "adaptive";
  r.bits = 2;
  r.seed = 3;
  r.step_policy = "first_epochs:1";
  r.test_metric = 1.875;
  r.dev_metric = 1.75;
  r.config_yaml = "name: exp\ntrain:\n  lr: 5e-4\n";
  r.group_names = {"lstm1.weight_ih_l0", "out.weight"};
  for (int i = 0; i < points; ++i) {
    train::EvalPoint p;
    p.epoch = i;
    p.updates = 7 * i;
    p.lr = 0.5;
    p.train_loss = i == 0 ? std::nan("") : 0.25;
    p.dev_metric = 2.0 - 0.125 * i;
    p.deltas = {0.125, 0.0625 * (i + 1)};
    r.curve.push_back(p);
  }
  return r;
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

TEST(Export, CsvHasOneRowPerEvaluationPointAndQuotesFields) {
  RunRecord direct = run_with(0, "plain");
  direct.method = "direct";
  direct.stop_reason = "epoch budget of 3 spent";
  direct.baseline_digest = "00ff00ff00ff00ff";
  auto rows = lines(export_csv({run_with(3, "GCIDE (stand-in, \"dict\")"), direct}));
  ASSERT_EQ(rows.size(), 1u + 3u + 1u);  // header, 3 points, the curve-less run
  EXPECT_EQ(rows[0].rfind("cell_key,experiment,dataset,network,", 0), 0u);
  // The dataset holds a comma and quotes: quoted, quotes doubled.
  EXPECT_NE(rows[1].find(",\"GCIDE (stand-in, \"\"dict\"\")\",256,adaptive,2,3,first_epochs:1,ok,,1.875,1.75,"),
            std::string::npos)
      << rows[1];
  EXPECT_TRUE(ends_with(rows[1], ",0,0,0,0.5,,2,0,0.125;0.0625")) << rows[1];  // NaN loss -> empty
  EXPECT_TRUE(ends_with(rows[3], ",2,2,14,0.5,0.25,1.75,0,0.125;0.1875")) << rows[3];
  EXPECT_TRUE(ends_with(rows[4], ",direct,2,3,first_epochs:1,ok,,1.875,1.75,0,0,0,0,,,,,,epoch budget of 3 spent,00ff00ff00ff00ff,,,,,,,,")) << rows[4];
}

TEST(Export, JsonlHasOneEscapedObjectPerRunWithNullForNaN) {
  auto rows = lines(export_jsonl({run_with(2, "tab\there"), run_with(0, "x")}));
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].front(), '{');
  EXPECT_EQ(rows[0].back(), '}');
  EXPECT_NE(rows[0].find("\"dataset\":\"tab\\there\""), std::string::npos);
  EXPECT_NE(rows[0].find("\"config\":\"name: exp\\ntrain:\\n  lr: 5e-4\\n\""), std::string::npos);
  EXPECT_NE(rows[0].find("\"groups\":[\"lstm1.weight_ih_l0\",\"out.weight\"]"), std::string::npos);
  EXPECT_NE(rows[0].find("{\"epoch\":0,\"updates\":0,\"lr\":0.5,\"train_loss\":null,\"dev_metric\":2,"), std::string::npos);
  EXPECT_NE(rows[0].find("\"deltas\":[0.125,0.125]}]}"), std::string::npos);
  EXPECT_NE(rows[1].find("\"curve\":[]}"), std::string::npos);
  EXPECT_NE(rows[0].find("\"note\":\"\",\"stop_reason\":\"\",\"baseline_digest\":\"\","), std::string::npos);
}

}  // namespace
}  // namespace qretrain::report
