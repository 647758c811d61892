// TIMIT phone inventory: the 61 phones of the .PHN files, the standard
// folding onto 39 scoring classes (Lee & Hon 1989; 'q' is removed), and the
// 24-speaker core test set. Torch-free data for the phoneme track.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace qretrain::data::timit {

// The 61 phone labels, in a fixed order (the training targets' class ids).
const std::vector<std::string>& phones61();
// The 39 scoring classes, in a fixed order.
const std::vector<std::string>& classes39();
// Class id (0..60) of a phone label, case-insensitive; nullopt if unknown.
std::optional<int> phone_id(const std::string& label);
// 39-class id of a 61-phone id, or -1 for 'q' (removed from scoring).
int fold_to_39(int phone61);

// The core test set's 24 speakers (2 male, 1 female per dialect region),
// upper case as on the LDC discs.
const std::vector<std::string>& core_test_speakers();
// The standard 50-speaker development set (also from the TEST folder).
const std::vector<std::string>& dev_speakers();

}  // namespace qretrain::data::timit
